"""The op table the IR consults: the ops layer registers each declaration here.

The IR (builder, parser, verifier) needs three things of an op it does not know by itself:
its attributes normalized, its result types inferred, and its region checks. It asks this
table, through the small :class:`OpSpec` protocol, so the IR imports nothing above it and
knows no op family; ``xlalite.ops`` fills the table when it is imported (as ``import
xlalite`` does).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from xlalite.ir.attributes import AttrError
from xlalite.ir.types import TensorType

if TYPE_CHECKING:
    from xlalite.ir.core import Op


class ShapeError(ValueError):
    """Operands or attributes violate an op's shape/dtype rule; the message says which."""


class OpSpec(Protocol):
    """What the IR asks of an op declaration."""

    @property
    def name(self) -> str: ...

    @property
    def verify_regions(self) -> Callable[[Op], list[str]] | None: ...

    @property
    def takes_regions(self) -> bool: ...

    def normalize_attrs(self, attrs: Mapping[str, object]) -> dict[str, Any]: ...

    def infer_types(self, operand_types: Sequence[TensorType],
                    attrs: Mapping[str, object]) -> tuple[TensorType, ...]: ...


def suggest(name: str, options: Mapping[str, object] | Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.75)
    return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else ""


class OpTable:
    """Op declarations by name."""

    def __init__(self) -> None:
        self._ops: dict[str, OpSpec] = {}

    def register(self, spec: OpSpec) -> None:
        if spec.name in self._ops:
            raise ValueError(f"op '{spec.name}' is already registered")
        self._ops[spec.name] = spec

    def get(self, name: str) -> OpSpec:
        """The declaration of `name`; the KeyError message suggests close names."""
        try:
            return self._ops[name]
        except KeyError:
            raise KeyError(f"unknown op '{name}'{suggest(name, self._ops)}") from None

    def find(self, name: str) -> OpSpec | None:
        return self._ops.get(name)

    def with_defaults(self, name: str, attrs: dict[str, Any]) -> dict[str, Any]:
        """Attributes as both parsers read them: canonical, defaults filled, for a registered
        op; as written for an unknown op or invalid values (the verifier reports those)."""
        spec = self._ops.get(name)
        try:
            return attrs if spec is None else spec.normalize_attrs(attrs)
        except AttrError:
            return attrs

    def names(self) -> list[str]:
        return sorted(self._ops)


#: The one table: every op ``xlalite.ops`` declares.
OPS = OpTable()
