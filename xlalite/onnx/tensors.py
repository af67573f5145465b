"""ONNX tensors and element types as NumPy arrays, external data read safely.

External data (weights kept in files beside a large model) is read here rather than by
``onnx.load``: the `location` must name a regular file inside the model's folder once links
are resolved, so a model cannot make xlalite read ``/etc/passwd`` or ``../../secret``.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import numpy_helper

from xlalite.onnx.errors import OnnxImportError, UnsupportedTypeError

#: the ONNX element types the IR has, and their NumPy dtypes
_P = onnx.TensorProto
SUPPORTED: dict[int, np.dtype] = {
    _P.FLOAT16: np.dtype(np.float16), _P.FLOAT: np.dtype(np.float32),
    _P.DOUBLE: np.dtype(np.float64), _P.INT8: np.dtype(np.int8), _P.INT16: np.dtype(np.int16),
    _P.INT32: np.dtype(np.int32), _P.INT64: np.dtype(np.int64), _P.UINT8: np.dtype(np.uint8),
    _P.UINT16: np.dtype(np.uint16), _P.UINT32: np.dtype(np.uint32),
    _P.UINT64: np.dtype(np.uint64), _P.BOOL: np.dtype(np.bool_),
}


def type_name(elem_type: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"element type {elem_type}"


def numpy_dtype(elem_type: int, what: str) -> np.dtype:
    """The NumPy dtype for an ONNX element type, or an error naming `what` and the type."""
    if elem_type not in SUPPORTED:
        names = ", ".join(type_name(t) for t in SUPPORTED)
        raise UnsupportedTypeError(f"{what} has element type {type_name(elem_type)}; xlalite "
                                   f"supports {names}")
    return SUPPORTED[elem_type]


def check_array(a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype not in SUPPORTED.values():
        raise UnsupportedTypeError(f"{what} has NumPy dtype {a.dtype}, which xlalite's IR lacks")
    return a


def to_array(t: onnx.TensorProto, base_dir: str | None = None) -> np.ndarray:
    """The tensor's value; external data only from inside `base_dir`."""
    what = f"tensor {t.name!r}" if t.name else "a tensor attribute"
    dtype = numpy_dtype(t.data_type, what)
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return _external(t, dtype, base_dir, what)
    return check_array(np.asarray(numpy_helper.to_array(t)), what)


def _external(t: onnx.TensorProto, dtype: np.dtype, base_dir: str | None, what: str) -> np.ndarray:
    info = {e.key: e.value for e in t.external_data}
    location = info.get("location", "")
    if base_dir is None:
        raise OnnxImportError(f"{what} keeps its data in external file {location!r}; load the "
                              "model from a path so the file can be found beside it")
    root = os.path.realpath(base_dir)
    path = os.path.realpath(os.path.join(root, location))
    if not location or os.path.isabs(location) or os.path.commonpath([root, path]) != root:
        raise OnnxImportError(f"{what}: external data location {location!r} is outside the "
                              f"model's folder {root!r}; refusing to read it")
    if not os.path.isfile(path):
        raise OnnxImportError(f"{what}: external data file {location!r} is missing in {root!r}")
    offset = int(info.get("offset", 0) or 0)
    count = int(np.prod(t.dims, dtype=np.int64))
    length = int(info.get("length", count * dtype.itemsize) or count * dtype.itemsize)
    if length != count * dtype.itemsize:
        raise OnnxImportError(f"{what}: external data length {length} does not match "
                              f"{list(t.dims)} x {dtype}")
    with open(path, "rb") as f:
        f.seek(offset)
        raw = f.read(length)
    if len(raw) != length:
        raise OnnxImportError(f"{what}: external data file {location!r} ends before "
                              f"offset {offset} + {length} bytes")
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(t.dims)).copy()
