"""`Tensor`: OpenVINO's tensor object, backed by a numpy array.

`Tensor(array)` wraps an array (shared unless `shared_memory=False` copies it), `Tensor(Type.f32,
[1, 3])` allocates one. `data` is the array itself (writes go into the tensor), `shape` can be
set (the data are reallocated, as OpenVINO does for an output a custom op resizes). Inference
takes Tensors wherever it takes arrays, and infer requests hand out their results as Tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dialects.ov.element_type import Type


class Tensor:
    def __init__(self, array: Any, shape: Sequence[int] | None = None, shared_memory: bool = True):
        if isinstance(array, Tensor):
            self._data = array._data
        elif isinstance(array, Type) or (shape is not None and not isinstance(array, np.ndarray)):
            self._data = np.zeros([int(d) for d in (shape or ())], Type(array).to_dtype())
        else:
            arr = np.asarray(array)
            self._data = arr if shared_memory else np.array(arr, copy=True)

    @property
    def data(self) -> np.ndarray:
        return self._data

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._data.shape)

    @shape.setter
    def shape(self, shape: Sequence[int]) -> None:
        shape = tuple(int(d) for d in shape)
        if shape != self._data.shape:
            self._data = np.zeros(shape, self._data.dtype)

    @property
    def element_type(self) -> Type:
        return Type(self._data.dtype)

    @property
    def size(self) -> int:
        return int(self._data.size)

    @property
    def byte_size(self) -> int:
        return int(self._data.nbytes)

    def get_shape(self) -> tuple[int, ...]:
        return self.shape

    def set_shape(self, shape: Sequence[int]) -> None:
        self.shape = shape

    def get_element_type(self) -> Type:
        return self.element_type

    def get_size(self) -> int:
        return self.size

    def get_byte_size(self) -> int:
        return self.byte_size

    def copy_to(self, other: Tensor) -> None:
        other.shape = self.shape
        np.copyto(other._data, self._data.astype(other._data.dtype, copy=False))

    def copy_from(self, source: Tensor | np.ndarray) -> None:
        src = source.data if isinstance(source, Tensor) else np.asarray(source)
        self.shape = src.shape
        np.copyto(self._data, src.astype(self._data.dtype, copy=False))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)

    def __repr__(self) -> str:
        return f"<Tensor: shape[{','.join(map(str, self.shape))}] type: {self.element_type.get_type_name()}>"


__all__ = ["Tensor"]
