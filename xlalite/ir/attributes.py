"""Typed op attributes.

Attribute values are plain immutable Python data so ops can be hashed and compared (CSE):
``int``, ``float``, ``bool``, ``str``, nested ``tuple``s of those, :class:`DType`, and
:class:`DenseElements` for tensor constants. An :class:`AttrKind` declares which values an
op accepts for one attribute and normalizes them (lists become tuples, ints become floats).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from xlalite.ir.types import DType, TensorType


class AttrError(ValueError):
    """An attribute value does not have the declared kind."""


class DenseElements:
    """An immutable dense tensor literal (the value of ``xl.constant``)."""

    __slots__ = ("array", "type", "is_splat", "_key")

    def __init__(self, array: np.ndarray, type: TensorType | None = None):
        if type is None:
            type = TensorType.of(np.asarray(array))
        arr = np.array(array, dtype=type.dtype.numpy, copy=True)
        if arr.shape != type.shape and arr.size != 1:
            raise AttrError(f"dense literal has shape {list(arr.shape)} but its type is {type}")
        if type.size == 0:  # a one-element splat of an empty type holds no element at all
            arr = arr.reshape(-1)[:0].reshape(type.shape)
        flat = arr.reshape(-1)
        # Same bit pattern everywhere (so NaN splats count, and -0.0 differs from 0.0).
        self.is_splat = flat.size > 0 and bool(np.all(
            flat.view(np.uint8).reshape(flat.size, -1) == flat[:1].view(np.uint8)))
        if self.is_splat:  # stored as a zero-stride view: a huge splat costs one element
            first = flat[:1].copy()
            arr = np.broadcast_to(first.reshape(()), type.shape)
            self._key = (type, first.tobytes())
        else:
            self._key = (type, arr.tobytes())
        arr.setflags(write=False)
        self.array = arr
        self.type = type

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DenseElements) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"DenseElements({self.type})"


def dense_literal(data: object, t: TensorType) -> DenseElements:
    """The value of a ``dense<data> : t`` literal, `data` being nested tuples of numbers or
    bools as parsed; ValueError (AttrError for a shape mismatch) says what does not fit."""
    ok = (bool,) if t.dtype.is_bool else (int,) if t.dtype.is_int else (int, float)
    for leaf in _leaves(data):
        if not isinstance(leaf, ok) or (t.dtype is not DType.BOOL and isinstance(leaf, bool)):
            raise ValueError(f"dense literal element {leaf!r} does not fit type {t}")
    try:
        with np.errstate(over="ignore"):
            array = np.array(data, dtype=t.dtype.numpy)
        if array.size == 0 and t.size == 0:  # `[]` is every empty shape's literal, (0, 3) too
            array = array.reshape(t.shape)
        return DenseElements(array, t)
    except AttrError:
        raise
    except (ValueError, OverflowError) as e:
        raise ValueError(f"malformed dense literal for {t}: {e}") from None


def _leaves(data: object):
    if isinstance(data, tuple):
        for d in data:
            yield from _leaves(d)
    else:
        yield data


class AttrKind:
    """The declared kind of an attribute: a name for messages and a normalizer."""

    name = "value"

    def normalize(self, value: object) -> object:
        """Return the canonical form of `value` or raise AttrError saying what was expected."""
        raise NotImplementedError


class IntAttr(AttrKind):
    name = "an integer"

    def normalize(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise AttrError(f"expected {self.name}, got {_show(value)}")
        return int(value)


_INT = IntAttr()


class FloatAttr(AttrKind):
    name = "a float"

    def normalize(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise AttrError(f"expected {self.name}, got {_show(value)}")
        return float(value)


class BoolAttr(AttrKind):
    name = "true or false"

    def normalize(self, value: object) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise AttrError(f"expected {self.name}, got {_show(value)}")
        return bool(value)


class StrAttr(AttrKind):
    name = "a string"

    def normalize(self, value: object) -> str:
        if not isinstance(value, str):
            raise AttrError(f"expected {self.name}, got {_show(value)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: it could not be printed or written
            raise AttrError("strings must be valid Unicode text (no lone surrogates)") from None
        return value


class EnumAttr(AttrKind):
    """A string from a fixed set, e.g. a comparison direction."""

    def __init__(self, *choices: str):
        self.choices = choices
        self.name = "one of " + ", ".join(f'"{c}"' for c in choices)

    def normalize(self, value: object) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise AttrError(f"expected {self.name}, got {_show(value)}")
        return value


class IntListAttr(AttrKind):
    """A list of integers, optionally of a fixed length."""

    def __init__(self, length: int | None = None):
        self.length = length
        self.name = "a list of integers" + (f" of length {length}" if length is not None else "")

    def normalize(self, value: object) -> tuple[int, ...]:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise AttrError(f"expected {self.name}, got {_show(value)}")
        try:
            out = tuple(_INT.normalize(v) for v in value)
        except AttrError:
            raise AttrError(f"expected {self.name}, got {_show(value)}") from None
        if self.length is not None and len(out) != self.length:
            raise AttrError(f"expected {self.name}, got {len(out)} elements")
        return out


class IntListListAttr(AttrKind):
    """A list of integer lists, e.g. ``[[1], [0]]`` for contraction dimensions."""

    def __init__(self, length: int | None = None, inner: int | None = None):
        self.length = length
        self.inner = IntListAttr(inner)
        self.name = "a list of integer lists" + (
            f" of length {length}" if length is not None else ""
        )

    def normalize(self, value: object) -> tuple[tuple[int, ...], ...]:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise AttrError(f"expected {self.name}, got {_show(value)}")
        try:
            out = tuple(self.inner.normalize(v) for v in value)
        except AttrError as e:
            raise AttrError(f"expected {self.name}: {e}") from None
        if self.length is not None and len(out) != self.length:
            raise AttrError(f"expected {self.name}, got {len(out)} elements")
        return out


class DTypeAttr(AttrKind):
    name = "an element type (f16, f32, f64, i8...i64, u8...u64, bool)"

    def normalize(self, value: object) -> DType:
        if isinstance(value, DType):
            return value
        if isinstance(value, str):
            try:
                return DType.parse(value)
            except ValueError:
                pass
        raise AttrError(f"expected {self.name}, got {_show(value)}")


class DenseAttr(AttrKind):
    name = "a dense tensor literal"

    def normalize(self, value: object) -> DenseElements:
        if isinstance(value, DenseElements):
            return value
        if isinstance(value, np.ndarray):
            return DenseElements(value)
        raise AttrError(f"expected {self.name}, got {_show(value)}")


def _show(value: object) -> str:
    try:
        return format_attr(value)
    except TypeError:
        return repr(value)


def float_repr(x: float, dtype: DType = DType.F64) -> str:
    """Shortest text that parses back to the same value of `dtype` (inf/nan spelled out)."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = str(dtype.numpy.type(x)) if dtype in (DType.F16, DType.F32) else repr(float(x))
    if "e" not in text and "." not in text:
        text += ".0"
    return text


def format_attr(value: object) -> str:
    """Text of one attribute value; raises TypeError for values the IR cannot hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, DType):
        return value.value
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    if isinstance(value, DenseElements):
        return f"dense<{_format_dense(value)}> : {value.type}"
    raise TypeError(f"cannot print attribute value {value!r} of type {type(value).__name__}")


def _format_scalar(x: Any, dtype: DType) -> str:
    if dtype is DType.BOOL:
        return "true" if bool(x) else "false"
    if dtype.is_int:
        return str(int(x))
    return float_repr(float(x), dtype)


def _format_dense(d: DenseElements) -> str:
    if d.is_splat:
        return _format_scalar(d.array.reshape(-1)[0], d.type.dtype)

    def nest(a: np.ndarray) -> str:
        if a.ndim == 0:
            return _format_scalar(a[()], d.type.dtype)
        return "[" + ", ".join(nest(s) for s in a) + "]"

    return nest(d.array)
