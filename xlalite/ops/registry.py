"""The op registry: one :class:`OpDef` record per op.

An OpDef holds everything the compiler knows about an op, side by side: operand names, typed
attributes, the shape/dtype rule (``infer``), the NumPy reference (``reference``, the oracle the
interpreter runs), the fusion kind, an example instance (for generated tests and docs), and the
slot for the reverse-mode rule (``vjp``) or an explicit statement that the op is not
differentiable. Op families live in sibling modules (``elementwise.py``, ``shape.py`` ...) and
register their ops at import time; the registry holds definitions, never IR.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from xlalite.ir.attributes import AttrError, AttrKind
from xlalite.ir.core import is_discardable
from xlalite.ir.types import TensorType


class ShapeError(ValueError):
    """Operands or attributes violate an op's shape/dtype rule; the message says which."""


class FusionKind(enum.IntEnum):
    """TVM-style op grading used by the fusion pass: lower kinds fuse more freely."""

    ELEMENTWISE = 0  # out[i] depends on in[i] only
    BROADCAST = 1  # out[i] depends on in[f(i)] with f dropping/repeating dims
    INJECTIVE = 2  # each output element reads one input element (reshape, slice, gather)
    REDUCTION = 3  # an output element reads many input elements along some axes
    MATMUL = 4  # matmul-like: fuses an elementwise epilogue only
    OPAQUE = 5  # never fused


_REQUIRED = object()


@dataclass(frozen=True)
class AttrSpec:
    """One declared attribute: name, kind and (optionally) a default value."""

    name: str
    kind: AttrKind
    default: object = _REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


Attrs = Mapping[str, object]
InferFn = Callable[..., TensorType | tuple[TensorType, ...]]
ReferenceFn = Callable[..., np.ndarray | tuple[np.ndarray, ...]]
#: An example instance: operand types and attributes of a valid op (tests, docs).
Example = tuple[Sequence[TensorType], Mapping[str, object]]


@dataclass(frozen=True)
class OpDef:
    """Declaration of one op. ``infer(*operand_types, **attrs)`` returns the result type(s);
    ``reference(*arrays, **attrs)`` computes the result(s) with NumPy."""

    name: str
    doc: str
    operands: tuple[str, ...]
    infer: InferFn
    reference: ReferenceFn | None  # None only for region ops run by extra["interpret"]
    fusion: FusionKind
    example: Callable[[], Example]
    attrs: tuple[AttrSpec, ...] = ()
    variadic: bool = False  # the last operand name stands for one or more operands
    vjp: Callable | None = None
    differentiable: bool = True  # False: gradients through this op are zero / undefined
    pure: bool = True  # False: never removed or merged by DCE/CSE
    patterns: tuple[Callable, ...] = ()  # canonicalization rewrites: (op, rewriter) -> bool
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def attr_specs(self) -> dict[str, AttrSpec]:
        return {a.name: a for a in self.attrs}

    def check_operand_count(self, n: int) -> None:
        fixed = len(self.operands) - (1 if self.variadic else 0)
        if self.variadic and n < fixed:
            raise ShapeError(f"'{self.name}' takes at least {fixed} operands, got {n}")
        if not self.variadic and n != fixed:
            names = ", ".join(self.operands) or "none"
            raise ShapeError(f"'{self.name}' takes {fixed} operands ({names}), got {n}")

    def normalize_attrs(self, attrs: Mapping[str, object]) -> dict[str, object]:
        """Check `attrs` against the declaration, fill defaults, return canonical values."""
        specs = self.attr_specs
        for name in attrs:
            if name not in specs and not is_discardable(name):
                hint = _suggest(name, specs)
                valid = ", ".join(specs) or "none"
                raise AttrError(f"'{self.name}' has no attribute '{name}'{hint} (valid: {valid})")
        out: dict[str, object] = {}
        for spec in self.attrs:
            if spec.name in attrs:
                try:
                    out[spec.name] = spec.kind.normalize(attrs[spec.name])
                except AttrError as e:
                    raise AttrError(f"attribute '{spec.name}' of '{self.name}': {e}") from None
            elif spec.required:
                raise AttrError(
                    f"'{self.name}' requires attribute '{spec.name}' ({spec.kind.name})"
                )
            else:
                out[spec.name] = spec.kind.normalize(spec.default)
        out.update((k, v) for k, v in attrs.items() if is_discardable(k))
        return out

    def infer_types(
        self, operand_types: Sequence[TensorType], attrs: Mapping[str, object]
    ) -> tuple[TensorType, ...]:
        """Run the shape rule on normalized attributes; always returns a tuple."""
        self.check_operand_count(len(operand_types))
        out = self.infer(*operand_types, **{k: v for k, v in attrs.items() if not is_discardable(k)})
        return out if isinstance(out, tuple) else (out,)

    def evaluate(
        self, arrays: Sequence[np.ndarray], attrs: Mapping[str, object],
        result_types: Sequence[TensorType],
    ) -> tuple[np.ndarray, ...]:
        """Run the NumPy reference and check its results against the declared types."""
        if self.reference is None:
            raise TypeError(f"'{self.name}' has no standalone reference (it runs its region)")
        out = self.reference(*arrays, **{k: v for k, v in attrs.items() if not is_discardable(k)})
        outs = out if isinstance(out, tuple) else (out,)
        checked = []
        for i, (arr, t) in enumerate(zip(outs, result_types, strict=True)):
            arr = np.asarray(arr)
            if arr.shape != t.shape or arr.dtype != t.dtype.numpy:
                raise AssertionError(
                    f"internal error: reference of '{self.name}' produced result #{i} as "
                    f"{arr.dtype}{list(arr.shape)}, but its type is {t}"
                )
            checked.append(arr)
        return tuple(checked)


_REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    """Add an op declaration; names are unique."""
    if opdef.name in _REGISTRY:
        raise ValueError(f"op '{opdef.name}' is already registered")
    _REGISTRY[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    """Look up an op by name; the KeyError message suggests close names."""
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op '{name}'{_suggest(name, _REGISTRY)}") from None


def find_op(name: str) -> OpDef | None:
    """The declaration of `name`, or None for unregistered ops (which passes leave alone)."""
    _load_families()
    return _REGISTRY.get(name)


def all_ops() -> list[OpDef]:
    """Every registered op, sorted by name."""
    _load_families()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def _suggest(name: str, options: Mapping[str, object] | Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.75)
    return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else ""


def _load_families() -> None:
    import xlalite.ops  # noqa: F401  (importing the package registers every family)
