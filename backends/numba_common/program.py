"""What a Numba target generates for one function: kernels, their calls, and the driver."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import numpy as np

from xlalite.backends.numba_common.cache import kernel_key
from xlalite.ir.core import Function
from xlalite.ir.types import TensorType
from xlalite.passes.plan_memory import arena_bytes


class GeneratedKernel(Protocol):
    """A kernel's source (``def kernel(in0, ..., out)``) and a note for readers of it."""

    @property
    def source(self) -> str: ...

    @property
    def note(self) -> str: ...


K = TypeVar("K", bound=GeneratedKernel)


@dataclass
class Call:
    """One launch of kernel ``kernels[kernel]``: its array argument types and the integer
    extents passed after them (numbers are arguments, so one kernel serves every shape)."""

    kernel: int
    types: list[TensorType]
    extents: tuple[int, ...] = ()


@dataclass
class Program(Generic[K]):
    """Generated code for `function`. `module_text(kernel)` is the complete module a kernel
    is loaded from (the target's header and decorator around its source); kernels whose
    module text is the same are generated once and called many times."""

    function: Function
    module_text: Callable[[K], str]
    kernels: list[K] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    consts: list[np.ndarray] = field(default_factory=list)
    views: list[tuple[int, TensorType]] = field(default_factory=list)  # arena (offset, type)
    scratch_bytes: int = 0  # the largest scratch any call needs (one buffer serves them all)
    driver: str = ""
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def arena_bytes(self) -> int:
        return arena_bytes(self.function)

    def add_call(self, kernel: K, types: Sequence[TensorType], extents: tuple[int, ...] = ()) -> str:
        """Register one call of `kernel`; returns the kernel's name in the driver (``k<i>``)."""
        text = self.module_text(kernel)
        if text not in self._index:
            self._index[text] = len(self.kernels)
            self.kernels.append(kernel)
        k = self._index[text]
        self.calls.append(Call(k, list(types), extents))
        return f"k{k}"

    def modules(self) -> list[str]:
        """The module text of every kernel, in kernel order."""
        return [self.module_text(k) for k in self.kernels]

    def source(self) -> str:
        """Every kernel module and the driver, as the Python source that runs."""
        texts = [f"# kernel k{i} (xlk_{kernel_key(text)[:12]}){': ' + k.note if k.note else ''}\n{text}"
                 for i, (k, text) in enumerate(zip(self.kernels, self.modules()))]
        return "\n\n".join(texts + ["# driver\n" + self.driver])
