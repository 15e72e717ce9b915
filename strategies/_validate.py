"""Small argument checks shared by the public wrappers of the numerical core."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from strategies.errors import InvalidParameterError

__all__ = [
    "finite",
    "non_negative",
    "non_negative_array",
    "positive",
    "positive_int",
]


def finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise InvalidParameterError(f"{name} must be a finite number, got {value!r}")
    return value


def positive(name: str, value: float) -> float:
    value = finite(name, value)
    if value <= 0.0:
        raise InvalidParameterError(f"{name} must be > 0, got {value!r}")
    return value


def non_negative(name: str, value: float) -> float:
    value = finite(name, value)
    if value < 0.0:
        raise InvalidParameterError(f"{name} must be >= 0, got {value!r}")
    return value


def positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise InvalidParameterError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if value <= 0:
        raise InvalidParameterError(f"{name} must be >= 1, got {value}")
    return value


def non_negative_array(
    name: str, values: ArrayLike, length: int | None = None
) -> NDArray[np.float64]:
    """Return ``values`` as a 1-D float array, checking finiteness, sign and length."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidParameterError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise InvalidParameterError(f"{name} must have {length} values, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"{name} must contain only finite numbers")
    if np.any(arr < 0.0):
        raise InvalidParameterError(f"{name} must not contain negative values")
    return arr
