"""Save and load named arrays as `.npz`, never with pickle.

    micrograd.save('model.npz', model.state_dict())
    model.load_state_dict(micrograd.load('model.npz'))
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from .engine import Value


class LoadError(ValueError):
    """A file that is not a readable micrograd/NumPy .npz archive."""


def save(path, state: dict) -> None:
    """Write name -> array (or Value: its data) to `path` (.npz), names kept
    as they are ('layers.0.weight'). Object arrays are refused."""
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f'save: names must be non-empty strings, got {name!r}')
        array = np.asarray(value.data if isinstance(value, Value) else value)
        if array.dtype == object:
            raise TypeError(f"save: '{name}' is an object array; only numeric "
                            'arrays are saved (no pickle)')
        arrays[name] = array
    with open(path, 'wb') as f:
        np.savez(f, **arrays)


def load(path) -> dict:
    """Read what `save` wrote: {name: array}. A missing, corrupt or truncated
    file raises FileNotFoundError or LoadError naming the path."""
    if not os.path.exists(path):
        raise FileNotFoundError(f'load: no such file: {path}')
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise LoadError(f'load: {path} is not a readable .npz archive '
                        f'(corrupt or truncated?): {exc}') from None
