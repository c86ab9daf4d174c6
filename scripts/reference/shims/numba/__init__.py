"""Pure-Python stand-in for numba (not installable here): njit/vectorize run the Python functions as written.
Only for running the Python crispyx as a reference (slow, same numbers)."""
import math as _math
import numpy as _np


def _decorator(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda f: f


njit = jit = _decorator
prange = range


def vectorize(*args, **kwargs):
    def wrap(f):
        return _np.vectorize(f, otypes=[float])
    if len(args) == 1 and callable(args[0]):
        return wrap(args[0])
    return wrap


class _T:
    def __call__(self, *a, **k):
        return self

    def __getitem__(self, k):
        return self


float64 = float32 = int64 = int32 = boolean = uint8 = _T()
