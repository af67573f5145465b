"""The op registry: one :class:`OpDef` record per op.

An OpDef holds everything the compiler knows about an op, side by side: operand names, typed
attributes, the shape/dtype rule (``infer``), the NumPy reference (``reference``, the oracle the
interpreter runs), the fusion kind, an example instance (for generated tests and docs), and the
slot for the reverse-mode rule (``vjp``) or an explicit statement that the op is not
differentiable. Op families live in sibling modules (``elementwise.py``, ``shape.py`` ...) and
register their ops at import time; the registry holds definitions, never IR.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xlalite.ir.attributes import AttrError, AttrKind
from xlalite.ir.core import Block, Op, Value, is_discardable
from xlalite.ir.dialect import OPS, ShapeError, suggest
from xlalite.ir.types import TensorType

if TYPE_CHECKING:
    from xlalite.ir.builder import Builder
    from xlalite.ops.emit import Emitter


class FusionKind(enum.IntEnum):
    """TVM-style op grading used by the fusion pass: lower kinds fuse more freely."""

    ELEMENTWISE = 0  # out[i] depends on in[i] only
    BROADCAST = 1  # out[i] depends on in[f(i)] with f dropping/repeating dims
    INJECTIVE = 2  # each output element reads one input element (reshape, slice, gather)
    REDUCTION = 3  # an output element reads many input elements along some axes
    MATMUL = 4  # matmul-like: fuses an elementwise epilogue only
    OPAQUE = 5  # never fused


class Trait(enum.Enum):
    """Facts about an op that passes and backends dispatch on, declared with the op instead of
    kept as name sets in each client."""

    REDUCTION = "reduction"  # reduces operand 0 over `axes` with an associative combiner
    CONVOLUTION = "convolution"  # the conv2d family: a product with windowed operands
    WINDOW = "window"  # reduce_window family: each output reads one window of the input
    CONTROL = "control"  # cond/while/scan: its regions are programs of their own, which
    # passes optimize like function bodies and backends run as code (not one kernel)
    ASYNC = "async"  # a target may start it and finish it only before its result's first
    # reader (a non-blocking all-reduce): its operands stay live until then (plan-memory)


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
#: The cotangent a VJP rule receives: one Value, or a list for ops with several results.
Cotangent = Any
#: ``vjp(emitter, op, cotangent)``: one gradient per operand (None: not differentiable there).
VjpRule = Callable[["Emitter", Op, Cotangent], Sequence[Value | None]]
#: A canonicalization rewrite: ``pattern(op, rewriter)`` returns whether it changed the IR.
Pattern = Callable[[Op, Any], bool]
#: Checks of a region op that replace the shape rule: a message per problem.
RegionVerifier = Callable[[Op], list[str]]
#: How the interpreter runs a region op: ``interpret(op, inputs, run_block)``.
RunBlock = Callable[[Block, Sequence[np.ndarray]], list[np.ndarray]]
Interpreter = Callable[[Op, Sequence[np.ndarray], RunBlock], tuple[np.ndarray, ...]]
#: Builds an example instance of a region op: ``build(builder, args, attrs) -> Op``.
ExampleBuilder = Callable[["Builder", Sequence[Value], Mapping[str, object]], Op]


@dataclass(frozen=True)
class OpDef:
    """Declaration of one op. ``infer(*operand_types, **attrs)`` returns the result type(s);
    ``reference(*arrays, **attrs)`` computes the result(s) with NumPy."""

    name: str
    doc: str
    operands: tuple[str, ...]
    infer: InferFn
    reference: ReferenceFn | None  # None only for region ops, run by `interpret`
    fusion: FusionKind
    example: Callable[[], Example]
    attrs: tuple[AttrSpec, ...] = ()
    variadic: bool = False  # the last operand name stands for one or more operands
    vjp: VjpRule | None = None
    differentiable: bool = True  # False: gradients through this op are zero / undefined
    pure: bool = True  # False: never removed or merged by DCE/CSE
    patterns: tuple[Pattern, ...] = ()  # canonicalization rewrites
    traits: frozenset[Trait] = frozenset()
    #: the open interval of float operand values where the op is defined (log: x > 0);
    #: generated tests draw inputs inside it
    domain: tuple[float, float] = (-np.inf, np.inf)
    #: elementary operations the reference performs for `op` (see `work`); None: the default
    cost: Callable[[Op], int] | None = None
    # region ops (their result types come from their bodies, not from `infer`):
    verify_regions: RegionVerifier | None = None
    interpret: Interpreter | None = None
    build_example: ExampleBuilder | None = None

    @property
    def attr_specs(self) -> dict[str, AttrSpec]:
        return {a.name: a for a in self.attrs}

    def sample_range(self, low: float = -2.0, high: float = 2.0) -> tuple[float, float]:
        """[low, high] moved inside `domain` (with a margin of 0.5 at a finite bound)."""
        lo, hi = self.domain
        return (max(low, lo + 0.5) if np.isfinite(lo) else low,
                min(high, hi - 0.5) if np.isfinite(hi) else high)

    @property
    def takes_regions(self) -> bool:
        return self.verify_regions is not None

    def has(self, trait: Trait) -> bool:
        return trait in self.traits

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
                hint = suggest(name, specs)
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


def register(opdef: OpDef) -> OpDef:
    """Add an op declaration to the IR's op table; names are unique."""
    OPS.register(opdef)
    return opdef


def get_op(name: str) -> OpDef:
    """Look up an op by name; the KeyError message suggests close names."""
    return OPS.get(name)  # type: ignore[return-value]


def find_op(name: str) -> OpDef | None:
    """The declaration of `name`, or None for unregistered ops (which passes leave alone)."""
    return OPS.find(name)  # type: ignore[return-value]


def fusion_kind(op: Op) -> FusionKind:
    """`op`'s declared fusion kind (unregistered ops are opaque)."""
    opdef = find_op(op.name)
    return opdef.fusion if opdef is not None else FusionKind.OPAQUE


def has_trait(op: Op, trait: Trait) -> bool:
    """Whether `op` is a registered op declaring `trait` (unregistered ops declare none)."""
    opdef = find_op(op.name)
    return opdef is not None and trait in opdef.traits


def work(op: Op) -> int:
    """An upper bound on the elementary operations `op`'s reference performs: its declared
    `cost`, else one per operand and result element, or, for products and windowed ops
    (which read many elements per result), result elements times the largest operand."""
    opdef = find_op(op.name)
    sizes = [v.type.size for v in op.operands]
    out = sum(r.type.size for r in op.results)
    if opdef is not None and opdef.cost is not None:
        return opdef.cost(op)
    if opdef is not None and (opdef.fusion is FusionKind.MATMUL or Trait.WINDOW in opdef.traits):
        return out * max(sizes, default=1)
    return sum(sizes) + out


def all_ops() -> list[OpDef]:
    """Every registered op, sorted by name."""
    return [get_op(name) for name in OPS.names()]


__all__ = ["AttrSpec", "FusionKind", "OpDef", "ShapeError", "Trait", "all_ops", "find_op",
           "fusion_kind", "get_op", "has_trait", "register", "work"]
