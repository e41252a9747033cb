"""Decoding MIL values from the protobuf spec: dtypes, immediate values and weight blobs.

The weight file format (MILBlob storage, version 2) is a 64-byte header, then for each blob a
64-byte metadata record (sentinel 0xDEADBEEF, data type, size, data offset) followed by its data.
A ``const`` names the metadata record's offset; the tensor's shape and dtype come from its type.
Reading the file ourselves (rather than through coremltools' native reader) keeps the check
independent of the converter that wrote it.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, cast

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError

# MIL proto DataType enum value -> NumPy dtype (the integer values are fixed by MIL.proto).
MIL_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.bool_),
    10: np.dtype(np.float16),
    11: np.dtype(np.float32),
    12: np.dtype(np.float64),
    21: np.dtype(np.int8),
    22: np.dtype(np.int16),
    23: np.dtype(np.int32),
    24: np.dtype(np.int64),
    31: np.dtype(np.uint8),
    32: np.dtype(np.uint16),
    33: np.dtype(np.uint32),
    34: np.dtype(np.uint64),
}
STRING_DTYPE = 2

# The ``dtype`` strings of cast, fill and friends.
DTYPE_NAMES: dict[str, np.dtype] = {
    "bool": np.dtype(np.bool_), "fp16": np.dtype(np.float16), "fp32": np.dtype(np.float32),
    "fp64": np.dtype(np.float64), "int8": np.dtype(np.int8), "int16": np.dtype(np.int16),
    "int32": np.dtype(np.int32), "int64": np.dtype(np.int64), "uint8": np.dtype(np.uint8),
    "uint16": np.dtype(np.uint16), "uint32": np.dtype(np.uint32),
}

# MILBlob data type codes -> NumPy dtype (only the byte-aligned ones; sub-byte types are palettized
# weights, which need the constexpr ops this interpreter does not implement).
_BLOB_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float16), 2: np.dtype(np.float32), 3: np.dtype(np.uint8), 4: np.dtype(np.int8),
    6: np.dtype(np.int16), 7: np.dtype(np.uint16), 14: np.dtype(np.int32), 15: np.dtype(np.uint32),
}
_SENTINEL = 0xDEADBEEF
_MODEL_PATH_PREFIX = "@model_path/"


class TensorType:
    """A declared tensor type: dtype (None for strings) and shape (None entries for unknown sizes)."""

    __slots__ = ("dtype", "shape")

    def __init__(self, dtype: np.dtype | None, shape: tuple[int | None, ...] | None) -> None:
        self.dtype = dtype
        self.shape = shape

    def static_shape(self) -> tuple[int, ...] | None:
        """The shape when every size is known, else None."""
        return None if self.shape is None or None in self.shape else cast(tuple[int, ...], self.shape)

    def describe(self) -> str:
        dims = "?" if self.shape is None else "x".join("?" if d is None else str(d) for d in self.shape)
        return f"{'string' if self.dtype is None else self.dtype.name}[{dims}]"


def tensor_type(value_type: Any) -> TensorType | None:
    """The TensorType of a MIL ValueType, or None for lists, tuples, dicts and states."""
    if value_type.WhichOneof("type") != "tensorType":
        return None
    tt = value_type.tensorType
    dtype = None if tt.dataType == STRING_DTYPE else MIL_DTYPES.get(tt.dataType)
    if dtype is None and tt.dataType != STRING_DTYPE:
        raise ProgramError(f"unsupported MIL data type {tt.dataType}")
    dims: list[int | None] = []
    for dim in tt.dimensions:
        dims.append(dim.constant.size if dim.WhichOneof("dimension") == "constant" else None)
    shape = tuple(dims) if tt.rank == len(dims) else None
    return TensorType(dtype, shape)


class BlobFiles:
    """Weight files of one package, each read once into memory and sliced per ``const``."""

    def __init__(self, weights_dir: Path | None) -> None:
        self._dir = weights_dir
        self._data: dict[str, bytes] = {}

    def read(self, file_name: str, offset: int, ttype: TensorType) -> np.ndarray:
        data = self._file(file_name)
        if offset + 64 > len(data):
            raise ProgramError(f"weight offset {offset} lies beyond the end of {file_name}")
        sentinel, blob_dtype, size, data_offset = struct.unpack_from("<IIQQ", data, offset)
        if sentinel != _SENTINEL:
            raise ProgramError(f"no blob metadata at offset {offset} of {file_name} (corrupt weight file)")
        dtype = _BLOB_DTYPES.get(blob_dtype)
        if dtype is None:
            raise ProgramError(f"weight blob data type {blob_dtype} (sub-byte or compressed) is not supported")
        if ttype.dtype is None or dtype != ttype.dtype:
            raise ProgramError(f"weight blob at offset {offset} holds {dtype.name}, the program declares "
                               f"{ttype.describe()}")
        shape = ttype.static_shape()
        if shape is None:
            raise ProgramError(f"weight blob at offset {offset} has no fixed shape")
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize != size or data_offset + size > len(data):
            raise ProgramError(f"weight blob at offset {offset}: {size} bytes stored, {ttype.describe()} declared")
        return np.frombuffer(data, dtype=dtype.newbyteorder("<"), count=count, offset=data_offset).reshape(shape)

    def _file(self, file_name: str) -> bytes:
        if file_name not in self._data:
            if self._dir is None or not file_name.startswith(_MODEL_PATH_PREFIX):
                raise ProgramError(f"the program refers to weight file {file_name!r} but the model has no weights folder")
            relative = file_name[len(_MODEL_PATH_PREFIX):]
            if relative.startswith("weights/"):
                relative = relative[len("weights/"):]
            path = self._dir / relative
            if not path.is_file():
                raise ProgramError(f"weight file {path} is missing")
            self._data[file_name] = path.read_bytes()
        return self._data[file_name]


def decode_value(value: Any, blobs: BlobFiles) -> Any:
    """A MIL Value as NumPy (tensors), str (string scalars), list/tuple (lists, tuples) or dict."""
    kind = value.WhichOneof("value")
    if kind == "blobFileValue":
        ttype = tensor_type(value.type)
        if ttype is None:
            raise ProgramError("a weight blob must be a tensor")
        return blobs.read(value.blobFileValue.fileName, value.blobFileValue.offset, ttype)
    if kind != "immediateValue":
        raise ProgramError(f"MIL value of kind {kind!r} is not supported")
    imm = value.immediateValue
    which = imm.WhichOneof("value")
    if which == "tensor":
        ttype = tensor_type(value.type)
        if ttype is None:
            raise ProgramError("immediate tensor value without a tensor type")
        return _decode_tensor(imm.tensor, ttype)
    if which == "list":
        return [decode_value(v, blobs) for v in imm.list.values]
    if which == "tuple":
        return tuple(decode_value(v, blobs) for v in imm.tuple.values)
    if which == "dictionary":
        return {_hashable(decode_value(kv.key, blobs)): decode_value(kv.value, blobs) for kv in imm.dictionary.values}
    raise ProgramError(f"immediate value of kind {which!r} is not supported")


def _hashable(key: Any) -> Any:
    return key.item() if isinstance(key, np.ndarray) else key


def _decode_tensor(tensor: Any, ttype: TensorType) -> Any:
    which = tensor.WhichOneof("value")
    shape = ttype.static_shape()
    if ttype.dtype is None:
        strings = list(tensor.strings.values)
        return strings[0] if not shape and len(strings) == 1 else np.array(strings, dtype=object).reshape(shape or -1)
    if which == "bytes":
        flat = np.frombuffer(tensor.bytes.values, dtype=ttype.dtype.newbyteorder("<")).astype(ttype.dtype)
    elif which is None:
        flat = np.zeros(0, dtype=ttype.dtype)
    else:
        flat = np.asarray(list(getattr(tensor, which).values)).astype(ttype.dtype)
    if shape is None:
        return flat.reshape(()) if flat.size == 1 and ttype.shape == () else flat
    if flat.size == 1 and int(np.prod(shape)) != 1:
        return np.full(shape, flat[0], dtype=ttype.dtype)
    return flat.reshape(shape)
