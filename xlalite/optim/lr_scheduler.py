"""Learning-rate schedules shaped like ``torch.optim.lr_scheduler``.

A scheduler sets ``optimizer.lr`` once at construction (epoch 0) and again at every
``step()``; the learning rate is a run-time input of compiled training steps, so a schedule
never recompiles anything. Each schedule is a closed form of the epoch count (the same
values torch's recursive updates produce, to rounding)::

    opt = optim.SGD(model.parameters(), lr=0.1)
    warmup = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=95)
    sched = lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[5])
    for epoch in range(100):
        train_one_epoch(); sched.step()
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xlalite.optim import Optimizer


class LRScheduler:
    """Base class: subclasses define `lr_at(epoch)` from `base_lr` (the rate at creation)."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        # the rate before any schedule touched it (as torch's group["initial_lr"]), so the
        # schedulers given to SequentialLR all start from the same base
        if optimizer.initial_lr is None:
            optimizer.initial_lr = optimizer.lr
        self.base_lr = optimizer.initial_lr
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch (or one batch, for per-step schedules) and set the rate."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> list[float]:
        return [self.optimizer.lr]

    def state_dict(self) -> dict[str, object]:
        return {"last_epoch": self.last_epoch, "base_lr": self.base_lr}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.last_epoch = int(state["last_epoch"])  # type: ignore[call-overload]
        self.base_lr = float(state["base_lr"])  # type: ignore[arg-type]
        self.optimizer.lr = self.lr_at(self.last_epoch)


class StepLR(LRScheduler):
    """``base_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """``base_lr * gamma ** epoch``."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """``eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1):
        if T_max < 1:
            raise ValueError(f"T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch: int) -> float:
        cos = math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + cos) / 2


class LinearLR(LRScheduler):
    """Warm-up (or cool-down): the factor moves linearly from `start_factor` to `end_factor`
    over `total_iters` epochs, then stays: ``base_lr * factor``."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError("start_factor must be in (0, 1] and end_factor in [0, 1]")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch: int) -> float:
        done = min(epoch, self.total_iters) / self.total_iters if self.total_iters else 1.0
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)


class OneCycleLR(LRScheduler):
    """The 1cycle policy, stepped once per batch: from ``max_lr / div_factor`` up to `max_lr`
    over the first `pct_start` of `total_steps`, then down to ``initial / final_div_factor``
    (cosine or linear annealing; `three_phase` returns to the initial rate before the end)."""

    def __init__(self, optimizer: Optimizer, max_lr: float, total_steps: int,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1):
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', not {anneal_strategy!r}")
        self.total_steps, self.anneal = total_steps, anneal_strategy
        initial = max_lr / div_factor
        low = initial / final_div_factor
        up = float(pct_start * total_steps) - 1
        if three_phase:
            self.phases = [(up, initial, max_lr), (2 * up, max_lr, initial),
                           (total_steps - 1, initial, low)]
        else:
            self.phases = [(up, initial, max_lr), (total_steps - 1, max_lr, low)]
        optimizer.lr = initial
        super().__init__(optimizer, last_epoch)

    def _interpolate(self, start: float, end: float, pct: float) -> float:
        if self.anneal == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def lr_at(self, epoch: int) -> float:
        if epoch >= self.total_steps:
            raise ValueError(f"OneCycleLR stepped {epoch + 1} times for total_steps = "
                             f"{self.total_steps}")
        begin = 0.0
        for end_step, start_lr, end_lr in self.phases:
            if epoch <= end_step or end_step == self.phases[-1][0]:
                pct = (epoch - begin) / (end_step - begin) if end_step > begin else 1.0
                return self._interpolate(start_lr, end_lr, pct)
            begin = end_step
        raise AssertionError("unreachable")


class SequentialLR(LRScheduler):
    """Run `schedulers` one after another, switching at the epochs in `milestones` (a
    warm-up then a decay); each starts from its own epoch 0."""

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1):
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"{len(schedulers)} schedulers need {len(schedulers) - 1} "
                             f"milestones, got {len(milestones)}")
        self.schedulers, self.milestones = list(schedulers), list(milestones)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch: int) -> float:
        k = sum(epoch >= m for m in self.milestones)
        start = self.milestones[k - 1] if k else 0
        return self.schedulers[k].lr_at(epoch - start)


__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LinearLR", "OneCycleLR",
           "SequentialLR", "StepLR"]
