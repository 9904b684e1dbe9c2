"""Test arrays of other libraries, made from NumPy arrays (the tests that
use them skip where the library is not installed)."""
import numpy as np
import pytest


def dask_array(a, chunks=2):
    da = pytest.importorskip('dask.array')
    return da.from_array(np.asarray(a), chunks=chunks)


def torch_tensor(a):
    torch = pytest.importorskip('torch')
    return torch.as_tensor(np.asarray(a))
