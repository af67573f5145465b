"""Mutable state for training: parameters and buffers that compiled steps update in place.

A :class:`StateTensor` is an eager tensor with an identity: a model parameter, a running
statistic, an optimizer's momentum. Eagerly it behaves like any tensor, and ``assign``
overwrites its array in place. While a function is traced, the first read of a state tensor
adds a function argument for it, and ``assign`` records a new value; ``jit`` then passes the
current arrays in, takes the updated ones out (donated, so they are written in place) and
stores them back. This is how ``jit(train_step)`` keeps parameters and optimizer state resident
between calls while the step itself is one compiled program.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from xlalite.frontend.tensor import Tensor, active_trace

if TYPE_CHECKING:
    from xlalite.runtime.device import DeviceArray

_HOST: Any = Tensor.array  # type: ignore[misc]  # the slot holding the host array


class StateTensor(Tensor):
    """A tensor that training code may overwrite with ``assign``.

    A compiled step on an accelerator leaves the new value in device memory (``resident``),
    so the next step starts from it with no copy. Reading ``array`` (eager ops, ``numpy()``,
    ``state_dict()``) brings it back to the host first; the host copy is then the value."""

    __slots__ = ("name", "_device", "grad_hooks")
    is_state = True

    def __init__(self, data: object, dtype: object = None, requires_grad: bool = False,
                 name: str = ""):
        # a private copy: compiled steps overwrite it in place
        super().__init__(np.array(data, copy=True) if isinstance(data, np.ndarray) else data,
                         dtype, requires_grad)
        self.name = name
        self._device: DeviceArray | None = None
        #: hooks ``hook(params, grads) -> grads`` that transform each backward pass's fresh
        #: gradients of all the tensors sharing the hook at once (see autograd.apply_grad_hooks)
        self.grad_hooks: tuple[Any, ...] = ()

    @property
    def array(self) -> np.ndarray:
        if self._device is not None:  # a compiled step's result: fetch it once
            _HOST.__set__(self, self._device.numpy())
            self._device = None
        return _HOST.__get__(self)

    @array.setter
    def array(self, value: object) -> None:
        from xlalite.runtime.device import DeviceArray

        if isinstance(value, DeviceArray):
            self._device = value
        else:
            _HOST.__set__(self, value)
            self._device = None

    def resident(self) -> object:
        """The value where it lives: the device array a compiled step left, else the host one."""
        return self._device if self._device is not None else _HOST.__get__(self)

    def assign(self, value: Any) -> None:
        """Replace the contents (same shape and dtype): recorded when tracing, else in place."""
        from xlalite.frontend.numpy_api import asarray

        new = asarray(value, self.type.dtype)
        if new.shape != self.shape:
            raise ValueError(f"cannot assign {new.type} to state {self.type}")
        trace = active_trace([new])
        if trace is not None:
            trace.write_state(self, new)
        else:
            self.array[...] = new.array  # type: ignore[attr-defined]  # eager: a Tensor

    def numpy(self) -> np.ndarray:
        """The current value (a copy cannot go stale when a compiled step updates it)."""
        return self.array.copy()


class Parameter(StateTensor):
    """A trainable tensor (requires_grad=True), like torch.nn.Parameter."""

    __slots__ = ()

    def __init__(self, data: object, dtype: object = None):
        super().__init__(data, dtype, requires_grad=True)


class Buffer(StateTensor):
    """Non-trainable state: running statistics, optimizer moments, step counters, rng keys."""

    __slots__ = ()
