"""A stand-in for a GPU array library (CuPy), on the CPU.

`NAMESPACE` is the array-API-strict namespace whose arrays live on a
device that NumPy cannot read ('device1'): arrays are made there unless a
device is given (as CuPy makes them on the current GPU), the standard's
functions work on them, and any NumPy call that reaches one of them
(`np.asarray`, `np.sum`, `np.exp`, an `add.at`) raises. A graph, an
optimiser or compiled code that runs on `BACKEND` with the same numbers
as on NumPy therefore calls only the standard and the shims.
"""
import functools
import types

import numpy as np
import pytest

xp = pytest.importorskip('array_api_strict')

from micrograd.backend import Backend  # noqa: E402

DEVICE = xp.Device('device1')
HOST = xp.Device('CPU_DEVICE')
CREATORS = ('asarray', 'zeros', 'ones', 'empty', 'full', 'arange', 'eye',
            'linspace', 'tril_indices', 'triu_indices')


def _on_device(make):
    @functools.wraps(make)
    def on_device(*args, **kwargs):
        kwargs.setdefault('device', DEVICE)
        return make(*args, **kwargs)
    return on_device


class DeviceNamespace(types.ModuleType):
    """array_api_strict, its array-making functions defaulting to DEVICE."""

    def __getattr__(self, name):
        value = getattr(xp, name)
        if name in CREATORS:
            value = _on_device(value)
        setattr(self, name, value)
        return value


NAMESPACE = DeviceNamespace('device_standin')
BACKEND = Backend(NAMESPACE, 'device_standin')


def to_device(a):
    """A NumPy array (or number, or bool) as an array on the device."""
    return NAMESPACE.asarray(np.asarray(a))


def to_numpy(a) -> np.ndarray:
    """A device array copied to the host, then read by NumPy."""
    return np.asarray(a.to_device(HOST))


def assert_numpy_refuses(a):
    """The premise: NumPy cannot read a device array."""
    with pytest.raises(RuntimeError, match='device'):
        np.asarray(a)
