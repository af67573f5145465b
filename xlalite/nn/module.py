"""``Module``: parameters, buffers and submodules, shaped like torch.nn.Module.

Attributes that are :class:`Parameter`, :class:`Buffer` or ``Module`` are registered
automatically. ``state_dict()`` returns NumPy copies; ``load_state_dict`` writes into the
existing arrays, so compiled steps that hold them see the new values.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from xlalite.frontend.state import Buffer, Parameter, StateTensor
from xlalite.frontend.tensor import active_trace
from xlalite.nn.fit import Fit

_GENERATOR = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Seed the generator used by layer initializers and dropout keys."""
    global _GENERATOR
    _GENERATOR = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _GENERATOR


class Module(Fit):
    """Base class of layers and models; subclasses implement ``forward``. The Keras-style
    ``compile``/``fit``/``evaluate``/``predict`` come from :class:`~xlalite.nn.fit.Fit`."""

    training: bool

    _parameters: dict[str, Parameter]
    _buffers: dict[str, Buffer]
    _modules: dict[str, Module]

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: object) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Buffer):
            self._buffers[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        if isinstance(value, StateTensor) and not value.name:
            value.name = name
        object.__setattr__(self, name, value)

    # --- traversal -------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for path, m in self.named_modules():
            for name, p in m._parameters.items():
                yield (f"{path}.{name}" if path else name), p

    def named_buffers(self) -> Iterator[tuple[str, Buffer]]:
        for path, m in self.named_modules():
            for name, b in m._buffers.items():
                yield (f"{path}.{name}" if path else name), b

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def children(self) -> list[Module]:
        return list(self._modules.values())

    # --- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        return {k: t.numpy() for k, t in [*self.named_parameters(), *self.named_buffers()]}

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays into the existing parameters and buffers (shapes must match)."""
        own = dict([*self.named_parameters(), *self.named_buffers()])
        if strict:
            missing, unexpected = own.keys() - state.keys(), state.keys() - own.keys()
            if missing or unexpected:
                raise KeyError(f"state_dict mismatch: missing {sorted(missing)}, "
                               f"unexpected {sorted(unexpected)}")
        for name, value in state.items():
            if name in own:
                t = own[name]
                value = np.asarray(value)
                if value.shape != t.shape:
                    raise ValueError(f"{name}: expected shape {t.shape}, got {value.shape}")
                t.array[...] = value

    def train(self, mode: bool = True) -> Module:
        for _, m in self.named_modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    # --- calling ---------------------------------------------------------------------
    def __call__(self, *args: object, **kwargs: object):
        trace = active_trace()
        if trace is not None:  # a compiled function depends on this module's mode and on
            trace.guard(self, self._trace_key)  # which parameter objects it holds
        return self.forward(*args, **kwargs)

    def _trace_key(self) -> tuple:
        return (self.training, tuple((name, id(t)) for name, t in self._parameters.items()),
                tuple((name, id(t)) for name, t in self._buffers.items()))

    def forward(self, *args: object, **kwargs: object):
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            lines.append("  " + f"({name}): {child!r}".replace("\n", "\n  "))
        return lines[0] + (")" if len(lines) == 1 else "\n" + "\n".join(lines[1:]) + "\n)")


class Sequential(Module):
    """Apply modules in order."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x
