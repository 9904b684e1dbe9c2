"""`profile` synchronises the device before it reads the clock, through
`Backend.synchronize`: checked with a backend that records its calls
beside the clock reads; and the synchronisation of each library."""
import importlib
import sys
import time
import types

import numpy as np
import pytest

import micrograd as mg

profile_module = importlib.import_module('micrograd.profile')
from micrograd.backend import Backend, NumpyBackend


class Recording(NumpyBackend):
    """NumPy, with every synchronize call written to `events`."""

    def __init__(self, events):
        super().__init__()
        self.events = events

    def synchronize(self, *arrays):
        self.events.append(('sync', len(arrays)))


def test_every_clock_read_follows_a_synchronize(monkeypatch):
    events = []
    bk = Recording(events)

    def clock():
        events.append(('clock',))
        return time.perf_counter()

    monkeypatch.setattr(profile_module, 'time',
                        types.SimpleNamespace(perf_counter=clock))
    w = mg.Value(np.ones((3, 2)), backend=bk)
    x = mg.Value(np.arange(6.0).reshape(2, 3), backend=bk,
                 requires_grad=False)
    loss = ((x @ w).tanh() ** 2).sum()
    assert loss.bk is bk
    mg.profile(loss, file=False, repeats=2)
    clocks = [k for k, e in enumerate(events) if e == ('clock',)]
    assert len(clocks) > 12                 # rules and whole steps
    assert all(k and events[k - 1][0] == 'sync' for k in clocks)
    # the step ends wait for the root and for the gradients (w's)
    assert ('sync', 1) in events


def test_cupy_synchronizes_the_current_stream(monkeypatch):
    calls = []
    stream = types.SimpleNamespace(synchronize=lambda: calls.append('sync'))
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(
        get_current_stream=lambda: stream))
    monkeypatch.setitem(sys.modules, 'cupy', fake)
    Backend(np, 'cupy').synchronize()
    assert calls == ['sync']


def test_torch_synchronizes_cuda_only_when_it_is_in_use(monkeypatch):
    calls = []
    cuda = types.SimpleNamespace(is_available=lambda: True,
                                 is_initialized=lambda: True,
                                 synchronize=lambda: calls.append('sync'))
    monkeypatch.setitem(sys.modules, 'torch', types.SimpleNamespace(
        cuda=cuda))
    Backend(np, 'torch').synchronize()
    assert calls == ['sync']
    cuda.is_initialized = lambda: False
    Backend(np, 'torch').synchronize()
    assert calls == ['sync']


def test_numpy_and_other_libraries_import_no_device_library(monkeypatch):
    monkeypatch.setitem(sys.modules, 'cupy', None)   # an import would fail
    monkeypatch.setitem(sys.modules, 'torch', None)
    mg.Value(np.ones(2)).bk.synchronize(np.ones(2))
    Backend(np, 'array_api_strict').synchronize()


def test_dask_synchronize_computes_the_arrays(monkeypatch):
    da = pytest.importorskip('dask.array')
    pytest.importorskip('array_api_compat')
    bk = mg.Value(da.ones(3)).bk
    computed = []
    monkeypatch.setattr(bk, 'materialize',
                        lambda *arrays: computed.append(arrays) or arrays)
    bk.synchronize()
    assert computed == []                   # nothing pending to wait for
    x = da.ones(3) * 2
    bk.synchronize(x)
    assert len(computed) == 1 and computed[0][0] is x
