"""Save and load named arrays as `.npz`, never with pickle.

    micrograd.save('model.npz', model.state_dict())
    model.load_state_dict(micrograd.load('model.npz'))

The file is NumPy's `.npz` format, a zip archive holding one `.npy` file per
name (`numpy.load` reads it too). A round trip is bit for bit: names (dotted
ones such as 'layers.0.weight' included), order, dtypes, byte order, shapes
and values come back as they were saved.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from typing import Any, Mapping

import numpy as np
from numpy.lib.npyio import NpzFile

from .engine import Value


class LoadError(ValueError):
    """`load` was given a file that is not a readable `.npz` of arrays."""


def save(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Write {name: array or Value (its .data)} to `path`, exactly there (no
    '.npz' is appended). Object arrays are refused: they would need pickle.

    The archive is written to a temporary file beside `path` and renamed
    over it, so an interrupted save never leaves a half-written `path`.
    """
    path = os.fspath(path)
    arrays = _arrays(state)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'save: cannot write {path}: the folder '
                                f'{folder} does not exist')
    handle, scratch = tempfile.mkstemp(suffix='.npz', dir=folder)
    try:
        with os.fdopen(handle, 'wb') as f:
            _write_npz(f, arrays)
        os.replace(scratch, path)
    except BaseException:
        os.unlink(scratch)
        raise


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read what `save` wrote: {name: array}, in the saved order.

    A missing file raises FileNotFoundError; a file that is not an `.npz`
    of arrays (corrupt, truncated, a pickle, a single `.npy`) raises
    LoadError (a ValueError); each names the path and what is wrong.
    Nothing is ever unpickled.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f'load: no such file: {path}')
    if os.path.isdir(path):
        raise IsADirectoryError(f'load: {path} is a folder, not an .npz file')
    with open(path, 'rb') as f:        # errors opening it name the path
        try:
            contents = np.load(f, allow_pickle=False)
            state = None
            if isinstance(contents, NpzFile):
                with contents:
                    state = {name: contents[name] for name in contents.files}
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError,
                ValueError) as exc:
            raise LoadError(f'load: {path} is not a readable .npz archive '
                            f'(corrupt, truncated or not written by save?): '
                            f'{exc}') from None
    if state is None:
        raise LoadError(f'load: {path} holds a single array (.npy), not an '
                        '.npz archive of named arrays')
    for name, array in state.items():
        if not isinstance(array, np.ndarray):
            raise LoadError(f'load: {path}: {name!r} is not a .npy array')
    return state


def _arrays(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The state as NumPy arrays, checked: string names, no objects."""
    if not isinstance(state, Mapping):
        raise TypeError('save: state must be a dict of name -> array, got '
                        f'{type(state).__name__}')
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f'save: names must be non-empty strings, got '
                            f'{name!r}')
        array = np.asarray(value.data if isinstance(value, Value) else value)
        if array.dtype.hasobject:
            raise TypeError(f"save: '{name}' is an object array; only arrays "
                            'of numbers (or strings) are saved, without '
                            'pickle')
        arrays[name] = array
    return arrays


def _write_npz(f, arrays: dict[str, np.ndarray]) -> None:
    """What numpy.savez(f, **arrays) writes, one NAME.npy per array, but
    with no reserved names (savez's own 'file' and 'allow_pickle'
    parameters cannot be array names there)."""
    with zipfile.ZipFile(f, 'w', zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, array in arrays.items():
            with z.open(name + '.npy', 'w', force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
