"""Optimizers shaped like torch.optim: ``zero_grad()`` and ``step()``.

Updates are written with ``assign``: eagerly they overwrite parameters in place, and inside a
jitted training step they become part of the compiled program, with parameters and optimizer
state (momentum, Adam moments, step count) passed in and donated back, so nothing is copied
per step.

The learning rate is state too (a scalar buffer the compiled step reads), so ``opt.lr = x``
or a scheduler (``xlalite.optim.lr_scheduler``) changes it with no recompilation. The other
hyperparameters are constants of the compiled program: changing one (or the parameter list)
makes the next call of a jitted step trace again, never run with the old value.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from xlalite.frontend import numpy_api as xl
from xlalite.frontend.state import Buffer, Parameter
from xlalite.frontend.tensor import active_trace, no_grad

#: names of the constant hyperparameters each optimizer keys its compiled steps on
_CONSTANTS = ("momentum", "dampening", "weight_decay", "nesterov", "b1", "b2", "eps")


class _Group(dict):
    """``param_groups[0]`` as in torch: reading or writing ``"lr"`` goes to the optimizer."""

    def __init__(self, opt: Optimizer):
        super().__init__(params=opt.params)
        self._opt = opt

    def __getitem__(self, key: str) -> object:
        return self._opt.lr if key == "lr" else super().__getitem__(key)

    def __setitem__(self, key: str, value: object) -> None:
        if key == "lr":
            self._opt.lr = float(value)  # type: ignore[arg-type]
        else:
            super().__setitem__(key, value)


class Optimizer:
    def __init__(self, params: Iterable[Parameter], lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self._lr = Buffer(np.array(lr, np.float64), name="lr")  # f64: the value as given
        self.state: dict[int, dict[str, Buffer]] = {}
        self.param_groups = [_Group(self)]
        self.initial_lr: float | None = None  # set by the first scheduler (lr_scheduler.py)

    @property
    def lr(self) -> float:
        """The learning rate; setting it takes effect at the next step, compiled or not."""
        return float(self._lr.array)

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr.assign(np.array(value, np.float64))

    def rate(self, p: Parameter):
        """The learning rate as a scalar of `p`'s dtype (a run-time input of a compiled step)."""
        return xl.astype(self._lr, p.dtype)

    def _trace_key(self) -> tuple:
        return (tuple(id(p) for p in self.params),
                tuple((k, getattr(self, k)) for k in _CONSTANTS if hasattr(self, k)))

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def buffer(self, p: Parameter, name: str) -> Buffer:
        """Per-parameter state, created as zeros on first use."""
        slots = self.state.setdefault(id(p), {})
        if name not in slots:
            slots[name] = Buffer(np.zeros(p.shape, p.dtype), name=f"{name}")
        return slots[name]

    def step(self) -> None:
        trace = active_trace()
        if trace is not None:  # the compiled step holds these constants and parameters
            trace.guard(self, self._trace_key)
        with no_grad():
            self._begin()
            for p in self.params:
                if p.grad is not None:
                    self.update(p, p.grad)

    def _begin(self) -> None:
        """Called once per step before the parameter updates."""

    def update(self, p: Parameter, g) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """SGD with momentum, dampening, Nesterov momentum and (L2) weight decay, as torch."""

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self._started = Buffer(np.array(0.0, np.float32), name="started")

    def _begin(self) -> None:
        self._first = self._started * 1.0  # a copy: 0 on the first step (momentum := grad)
        self._started.assign(1.0)

    def update(self, p: Parameter, g) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            buf = self.buffer(p, "momentum")
            new = xl.where(self._first > 0, buf * self.momentum + (1 - self.dampening) * g, g)
            buf.assign(new)
            g = g + self.momentum * new if self.nesterov else new
        p.assign(p - self.rate(p) * g)


class Adam(Optimizer):
    """Adam (L2 weight decay added to the gradient, as torch.optim.Adam)."""

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.b1, self.b2 = betas
        self.eps, self.weight_decay = eps, weight_decay
        self.t = Buffer(np.array(0.0, np.float64), name="step")  # f64: exact count, exact powers

    def _begin(self) -> None:
        self.t.assign(self.t + 1.0)
        self._c1 = 1.0 - xl.power(self.b1, self.t)
        self._c2 = 1.0 - xl.power(self.b2, self.t)

    def update(self, p: Parameter, g) -> None:
        if self.weight_decay and not self.decoupled:
            g = g + self.weight_decay * p
        m, v = self.buffer(p, "exp_avg"), self.buffer(p, "exp_avg_sq")
        m_new = m * self.b1 + (1 - self.b1) * g
        v_new = v * self.b2 + (1 - self.b2) * g * g
        m.assign(m_new)
        v.assign(v_new)
        c1, c2 = xl.astype(self._c1, p.dtype), xl.astype(self._c2, p.dtype)
        step = (m_new / c1) / (xl.sqrt(v_new / c2) + self.eps)
        lr = self.rate(p)
        base = p * (1 - lr * self.weight_decay) if self.decoupled else p
        p.assign(base - lr * step)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01), as torch.optim.AdamW."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]
