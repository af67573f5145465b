"""The table of ONNX op handlers and what a handler sees of its node.

A handler turns one ONNX node into xlalite front-end calls. It is registered for one or more
op types of the default domain (``@handler("Add", "Sub")``) and is called as
``fn(node, *inputs)``: one argument per input the node lists, ``None`` for an omitted optional
input. Each input is an ``np.ndarray`` when its value is known while tracing (initializers,
``Constant`` nodes and whatever folds from them, such as shape arithmetic) and a tensor
otherwise. A handler returns one value or a tuple of them, in the node's output order.

Handlers never look at node names, doc strings or string attributes other than the enum-like
ones their op defines (``auto_pad``, ``mode``...), each checked against its allowed values: a
loaded model cannot steer code generation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper

from xlalite.frontend.tensor import Tensor, Tracer
from xlalite.onnx.errors import OnnxImportError, UnsupportedOpError
from xlalite.onnx.tensors import to_array

Handler = Callable[..., Any]
HANDLERS: dict[str, Handler] = {}
#: per op type, the input positions whose values decide shapes (see ``Node.static``)
STATIC_INPUTS: dict[str, tuple[int, ...]] = {}
_MISSING = object()


def handler(*op_types: str, static: tuple[int, ...] = ()) -> Callable[[Handler], Handler]:
    """Register `fn` as the handler of `op_types` (default ONNX domain). `static` lists the
    input positions the handler reads with ``node.static``: when such an input is a graph
    input (or computed from one), the model is specialised to its value, as ``jit``'s
    ``static_argnums`` does."""
    def register(fn: Handler) -> Handler:
        for name in op_types:
            assert name not in HANDLERS, f"two handlers for {name}"
            HANDLERS[name] = fn
            STATIC_INPUTS[name] = static
        return fn
    return register


@dataclass
class Node:
    """One ONNX node as a handler sees it."""

    proto: onnx.NodeProto
    opset: int  # the model's opset for the node's domain
    #: runs a subgraph attribute (If's branches, Loop's body) in this node's scope: the
    #: outer values it names are visible; returns its outputs in order
    subgraph: Callable[[onnx.GraphProto, dict[str, Any]], list[Any]] | None = None

    @property
    def op_type(self) -> str:
        return self.proto.op_type

    @property
    def n_outputs(self) -> int:
        return len(self.proto.output)

    def output_used(self, i: int) -> bool:
        return i < len(self.proto.output) and bool(self.proto.output[i])

    def attr(self, name: str, default: Any = _MISSING) -> Any:
        """The attribute's value (ints, floats, lists as tuples, tensors as arrays, bytes as
        str), else `default`; a required one that is absent is an import error."""
        for a in self.proto.attribute:
            if a.name == name:
                if a.type == onnx.AttributeProto.TENSOR:
                    return to_array(a.t)
                if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                    return helper.get_attribute_value(a)
                value = helper.get_attribute_value(a)
                if isinstance(value, bytes):
                    return value.decode("utf-8", "replace")
                if isinstance(value, list):
                    return tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                                 for v in value)
                return value
        if default is _MISSING:
            raise self.error(f"attribute {name!r} is required")
        return default

    def choice(self, name: str, default: str, allowed: Sequence[str]) -> str:
        """An enum-like string attribute, checked against the values the op defines."""
        value = self.attr(name, default)
        if value not in allowed:
            raise self.error(f"attribute {name}={value!r} is not one of {list(allowed)}")
        return value

    def static(self, value: object, what: str) -> np.ndarray:
        """The concrete value of an input that decides shapes (a Reshape's shape, Slice's
        starts...); a value computed from the model's inputs is an error naming it."""
        if isinstance(value, np.ndarray):
            return value
        if isinstance(value, Tensor) and not isinstance(value, Tracer):
            return value.array
        raise self.unsupported(f"input {what!r} must be known at import time (computed from "
                               "initializers, constants and shapes), not from the model's inputs")

    def error(self, why: str) -> OnnxImportError:
        name = f" {self.proto.name!r}" if self.proto.name else ""
        return OnnxImportError(f"{self.op_type} node{name}: {why}")

    def unsupported(self, why: str) -> UnsupportedOpError:
        return UnsupportedOpError(self.op_type, self.proto.name, self.proto.domain, self.opset, why)


def axis_of(node: Node, axis: int, rank: int) -> int:
    """A possibly negative ONNX axis as an index in ``range(rank)``."""
    if not -rank <= axis < max(rank, 1):
        raise node.error(f"axis {axis} is out of range for rank {rank}")
    return int(axis) % max(rank, 1)


__all__ = ["HANDLERS", "Node", "OnnxImportError", "UnsupportedOpError", "axis_of", "handler"]
