"""``xlalite.onnx.load``: an ONNX model as a compiled, callable xlalite model."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx

import xlalite.onnx.ops  # noqa: F401  # registers the handlers
from xlalite.frontend.jit import DEFAULT_BACKEND, Jitted, Lowered
from xlalite.frontend.numpy_api import asarray
from xlalite.onnx.errors import UnsupportedTypeError
from xlalite.onnx.graph import Weights, check_ops, run_graph, safe_name, value_inputs
from xlalite.onnx.registry import OnnxImportError
from xlalite.onnx.tensors import SUPPORTED, numpy_dtype, to_array, type_name
from xlalite.runtime import Executable


def _parse(model: str | os.PathLike | bytes | onnx.ModelProto) -> tuple[onnx.ModelProto, str | None]:
    if isinstance(model, onnx.ModelProto):
        return model, None
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise OnnxImportError(f"cannot read ONNX model {path!r}: {e.strerror}") from None
        base: str | None = os.path.dirname(os.path.abspath(path))
    elif isinstance(model, (bytes, bytearray, memoryview)):
        data, base, path = bytes(model), None, "<bytes>"
    else:
        raise TypeError(f"load() takes a path, bytes or onnx.ModelProto, not {type(model).__name__}")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)  # protobuf only: nothing in the file is executed
    except Exception as e:  # the protobuf runtime's DecodeError has no stable import path
        raise OnnxImportError(f"{path}: not an ONNX model (protobuf parse failed: {e})") from None
    if not proto.HasField("graph"):
        raise OnnxImportError(f"{path}: not an ONNX model (no graph)")
    return proto, base


class _Static:
    """An input whose value decides shapes (a Reshape's target fed as a graph input): a
    static argument of the jitted graph, compared and hashed by value."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self._key = (array.dtype.str, array.shape, array.tobytes())

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and self._key == other._key


class OnnxModel:
    """A loaded ONNX model: call it with the graph's inputs (arrays in graph-input order, or
    by name), get its outputs as a list of arrays in graph-output order, as onnxruntime's
    ``InferenceSession.run`` does. Compiled per input signature, like ``xlalite.jit``: a
    symbolic ``batch`` dim is specialised to each batch size met. An input whose value decides
    a shape (the target of a Reshape, the axes of a reduction) is specialised by value, as a
    ``static_argnums`` argument of ``jit``: each new value traces again."""

    def __init__(self, proto: onnx.ModelProto, backend: Any = DEFAULT_BACKEND,
                 base_dir: str | None = None):
        self.proto = proto
        graph = proto.graph
        self.opsets = {(imp.domain or ""): imp.version for imp in proto.opset_import}
        if "" not in self.opsets and "ai.onnx" in self.opsets:
            self.opsets[""] = self.opsets["ai.onnx"]
        self.initializers = {t.name: to_array(t, base_dir) for t in graph.initializer}
        self.inputs = [i for i in graph.input if i.name not in self.initializers]
        self.input_names = [i.name for i in self.inputs]
        self.output_names = [o.name for o in graph.output]
        self._weights = Weights()
        check_ops(graph, self.opsets)
        taken: set[str] = set()
        params = [inspect.Parameter(safe_name(n, taken), inspect.Parameter.POSITIONAL_ONLY)
                  for n in self.input_names]
        shaping = value_inputs(graph, self.input_names)
        self._static = [i for i, n in enumerate(self.input_names) if n in shaping]

        def forward(*args: Any) -> list[Any]:
            env: dict[str, Any] = dict(self.initializers)
            env.update((n, a.array if isinstance(a, _Static) else a)
                       for n, a in zip(self.input_names, args))
            run_graph(graph, env, self.opsets, self._weights)
            missing = [n for n in self.output_names if n not in env]
            if missing:
                raise OnnxImportError(f"graph outputs {missing} are produced by no node")
            return [asarray(env[n]) for n in self.output_names]

        forward.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        forward.__name__ = safe_name(graph.name or "onnx_model", set())
        self._jitted = Jitted(forward, backend=backend, static_argnums=self._static)
        self._specs = [self._spec(i) for i in self.inputs]
        # per input signature: the executable and its trace. Kept here rather than in the
        # Jitted because a model's call needs none of jit's generality (pytrees, guards on
        # user state): skipping it is most of the overhead of a call at batch 1
        self._compiled: dict[Any, tuple[Executable, Lowered]] = {}
        # the same entries keyed by (shape, dtype) of C-contiguous array inputs, for calls
        # that pass exactly those: they skip name binding and checks already passed once
        # (5 of a 30 us MLP call)
        self._fast: dict[tuple, tuple[Executable, Lowered]] = {}
        self._hits = 0

    # --- inputs -----------------------------------------------------------------------------
    def _arrays(self, args: tuple, kwargs: dict) -> list[np.ndarray]:
        if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs:
            kwargs, args = dict(args[0]), ()
        unknown = set(kwargs) - set(self.input_names)
        if unknown:
            raise TypeError(f"unknown model inputs {sorted(unknown)}; the inputs are "
                            f"{self.input_names}")
        if len(args) + len(kwargs) != len(self.inputs):
            raise TypeError(f"the model takes {len(self.inputs)} inputs {self.input_names}, got "
                            f"{len(args) + len(kwargs)}")
        values = list(args) + [kwargs[n] for n in self.input_names[len(args):] if n in kwargs]
        if len(values) != len(self.inputs):
            missing = [n for n in self.input_names[len(args):] if n not in kwargs]
            raise TypeError(f"missing model inputs {missing}")
        arrays: list[Any] = [self._check(i, v) for i, v in zip(self._specs, values)]
        for i in self._static:
            arrays[i] = _Static(arrays[i])
        return arrays

    @staticmethod
    def _spec(info: onnx.ValueInfoProto) -> tuple[str, np.dtype | None, list[int | None] | None]:
        """(name, dtype, dims with None where symbolic) of a graph input; dtype None: not a
        tensor."""
        if not info.type.HasField("tensor_type"):
            return info.name, None, None
        t = info.type.tensor_type
        want = numpy_dtype(t.elem_type, f"input {info.name!r}")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim] \
            if t.HasField("shape") else None
        return info.name, want, dims

    @staticmethod
    def _check(spec: tuple[str, np.dtype | None, list[int | None] | None], value: Any) -> np.ndarray:
        name, want, dims = spec
        a = np.asarray(value)
        if want is None:
            raise UnsupportedTypeError(f"input {name!r} is not a tensor (sequences, maps and "
                                       "optionals are not supported)")
        if a.dtype != want:
            elem = {v: k for k, v in SUPPORTED.items()}[want]
            raise TypeError(f"input {name!r} expects {type_name(elem)} ({want}), got {a.dtype}")
        if dims is not None and (len(dims) != a.ndim or
                                 any(d is not None and d != n for d, n in zip(dims, a.shape))):
            shown = [d if d is not None else "?" for d in dims]
            raise TypeError(f"input {name!r} expects shape {shown}, got {list(a.shape)}")
        return a

    # --- running ----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> list[np.ndarray]:
        fast = None if kwargs or self._static else self._fast_key(args)
        if fast is not None and fast in self._fast:
            self._hits += 1
            executable, lowered = self._fast[fast]
            with executable.lock:
                outs = executable.run([*args, *[w.resident() for w in lowered.state_in]])
            return [np.asarray(o) for o in outs]
        arrays = self._arrays(args, kwargs)
        key = tuple(a if isinstance(a, _Static) else (a.shape, a.dtype.str) for a in arrays)
        entry = self._compiled.get(key)
        if entry is None:
            lowered = self._jitted.lower(*arrays)
            assert not lowered.state_out, "an imported model writes no state"
            entry = self._compiled[key] = (lowered.compile(), lowered)
        else:
            self._hits += 1
        executable, lowered = entry
        dynamic = [a for a in arrays if not isinstance(a, _Static)]
        if fast is not None and all(a is b for a, b in zip(dynamic, args)):
            self._fast[fast] = entry  # the inputs passed the checks unchanged
        outs = executable(*dynamic, *[w.resident() for w in lowered.state_in])
        return [np.asarray(o) for o in outs]

    @staticmethod
    def _fast_key(args: tuple) -> tuple | None:
        key = []
        for a in args:
            if type(a) is not np.ndarray or not a.flags.c_contiguous:
                return None
            key.append((a.shape, a.dtype))
        return tuple(key)

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """The traced IR for these inputs' signature (``.as_text()`` prints it)."""
        return self._jitted.lower(*self._arrays(args, kwargs))

    def cache_info(self) -> dict[str, Any]:
        """Traces and compilations so far, and the resident weights' count and bytes."""
        return {"traces": self._jitted.cache_info()["traces"], "hits": self._hits,
                "misses": len(self._compiled), "weights": len(self._weights),
                "weight_bytes": self._weights.nbytes}

    def __repr__(self) -> str:
        return (f"OnnxModel(inputs={self.input_names}, outputs={self.output_names}, "
                f"opset={self.opsets.get('', '?')})")


def load(model: str | os.PathLike | bytes | onnx.ModelProto, backend: Any = DEFAULT_BACKEND,
         base_dir: str | None = None) -> OnnxModel:
    """Import an ONNX model (a path, its bytes or an ``onnx.ModelProto``) for `backend`.

    External-data weights are read from files inside the model's folder (`base_dir` for
    bytes or a ModelProto). Nothing in the file is executed. An op xlalite lacks raises
    :class:`UnsupportedOpError` here; an unsupported input form of a known op (a shape
    computed from the inputs, say) raises it on the first call, when the graph is traced."""
    proto, found = _parse(model)
    return OnnxModel(proto, backend, base_dir if base_dir is not None else found)


def example_inputs(model: OnnxModel, shapes: Mapping[str, Sequence[int]] | None = None
                   ) -> list[np.ndarray]:
    """Zero arrays for the model's inputs: declared dims, `shapes[name]` where given, and 1
    for any other symbolic dim (what ``xlalite-opt model.onnx`` lowers)."""
    shapes = dict(shapes or {})
    unknown = set(shapes) - set(model.input_names)
    if unknown:
        raise OnnxImportError(f"no inputs named {sorted(unknown)}; the inputs are "
                              f"{model.input_names}")
    out = []
    for info in model.inputs:
        t = info.type.tensor_type
        dtype = numpy_dtype(t.elem_type, f"input {info.name!r}")
        dims = shapes.get(info.name) or [d.dim_value if d.HasField("dim_value") else 1
                                         for d in t.shape.dim]
        out.append(np.zeros(tuple(dims), dtype))
    return out
