"""Save and load named arrays as `.npz`, never with pickle.

    micrograd.save('model.npz', model.state_dict())
    model.load_state_dict(micrograd.load('model.npz'))

The file is NumPy's `.npz` format, a zip archive holding one `.npy` file per
name (`numpy.load` reads it too). A round trip is bit for bit: names (dotted
ones such as 'layers.0.weight' included), order, dtypes, byte order, shapes
and values come back as they were saved.

`save` writes `.NAME.tmp-PID` beside the file, then renames it over the
file: an interrupted save leaves the old file whole. A new file gets the
mode the umask gives (as `open` and `numpy.savez` do); an existing file
keeps its mode. Temporary files left by a killed process (its PID no longer
runs) are removed by the next save of the same file.
"""
from __future__ import annotations

import math
import os
import re
import stat
import threading
import zipfile
import zlib
from typing import Any, Mapping

import numpy as np

from .backend import to_host
from .engine import Value


class LoadError(ValueError):
    """`load` was given a file that is not a readable `.npz` of arrays."""


def save(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Write {name: array or Value (its .data)} to `path`, exactly there (no
    '.npz' is appended). Object arrays are refused: they would need pickle;
    so are names that would not come back as they are.

    The archive is written to `.NAME.tmp-PID` beside `path` and renamed
    over it, so an interrupted save never leaves a half-written `path`.
    """
    path = os.fspath(path)
    arrays = _arrays(state)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'save: cannot write {path}: the folder '
                                f'{folder} does not exist')
    _remove_leftovers(folder, os.path.basename(path))
    scratch, handle = _open_scratch(folder, os.path.basename(path))
    try:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)   # keep it
        except FileNotFoundError:
            mode = None                                  # the umask's
        with os.fdopen(handle, 'wb') as f:
            if mode is not None and hasattr(os, 'fchmod'):
                os.fchmod(f.fileno(), mode)
            _write_npz(f, arrays)
        if mode is not None and not hasattr(os, 'fchmod'):
            os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        os.unlink(scratch)
        raise
    finally:
        with _LOCK:
            _WRITING.discard(scratch)


# Temporary files this process is writing now (several threads may save).
_WRITING: set[str] = set()
_LOCK = threading.Lock()


def _open_scratch(folder: str, name: str) -> tuple[str, int]:
    """A new file `.NAME.tmp-PID` (or `-PID-k` while another thread of this
    process writes one) in `folder`, opened for writing with mode 0666 less
    the umask: (its path, its descriptor)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_BINARY', 0)
    for k in range(1000):
        suffix = f'{os.getpid()}' + (f'-{k}' if k else '')
        scratch = os.path.join(folder, f'.{name}.tmp-{suffix}')
        with _LOCK:
            if scratch in _WRITING:
                continue
            try:
                handle = os.open(scratch, flags, 0o666)
            except FileExistsError:
                continue
            _WRITING.add(scratch)
            return scratch, handle
    raise FileExistsError(f'save: cannot create a temporary file beside '
                          f'{os.path.join(folder, name)}')


def _remove_leftovers(folder: str, name: str) -> None:
    """Remove `.NAME.tmp-PID[-k]` files whose writer is gone: a process that
    no longer runs, or this process when none of its threads writes it."""
    pattern = re.compile(re.escape(f'.{name}.tmp-') + r'(\d+)(-\d+)?')
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        found = pattern.fullmatch(entry)
        if found is None:
            continue
        leftover = os.path.join(folder, entry)
        pid = int(found.group(1))
        with _LOCK:
            mine = pid == os.getpid()
            if mine and leftover in _WRITING:
                continue
        if mine or (pid > 0 and not _process_runs(pid)):
            try:
                os.unlink(leftover)
            except OSError:
                pass            # gone already, or not ours to remove


def _process_runs(pid: int) -> bool:
    """Whether process `pid` runs on this machine (True when unsure)."""
    if os.name != 'posix':
        return True             # os.kill(pid, 0) would end it on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:             # someone else's process, or unknown
        return True
    return True


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read what `save` wrote: {name: array}, in the saved order.

    A missing file raises FileNotFoundError; a file that is not an `.npz`
    of arrays (corrupt, truncated, a pickle, a single `.npy`, a header that
    claims more data than the file holds) raises LoadError (a ValueError);
    each names the path and what is wrong. Nothing is ever unpickled.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f'load: no such file: {path}')
    if os.path.isdir(path):
        raise IsADirectoryError(f'load: {path} is a folder, not an .npz file')
    with open(path, 'rb') as f:        # errors opening it name the path
        if f.read(len(np.lib.format.MAGIC_PREFIX)) == \
                np.lib.format.MAGIC_PREFIX:
            raise LoadError(f'load: {path} holds a single array (.npy), not '
                            'an .npz archive of named arrays')
        f.seek(0)
        size = os.fstat(f.fileno()).st_size
        try:
            with zipfile.ZipFile(f) as archive:
                names = [_name_of(path, info) for info in archive.infolist()]
                if len(set(names)) < len(names):
                    twice = next(n for n in names if names.count(n) > 1)
                    raise LoadError(f'load: {path} is corrupt: {twice!r} '
                                    'is in it twice')
                return {name: _read_member(path, archive, info, size)
                        for name, info in zip(names, archive.infolist())}
        except LoadError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError,
                ValueError, NotImplementedError) as exc:
            raise LoadError(f'load: {path} is not a readable .npz archive '
                            f'(corrupt, truncated or not written by save?): '
                            f'{exc}') from None


def _name_of(path: str, info: zipfile.ZipInfo) -> str:
    """The array name of an archive member: 'NAME.npy' -> 'NAME'."""
    if not info.filename.endswith('.npy'):
        raise LoadError(f'load: {path}: {info.filename!r} is not a .npy '
                        'array')
    return info.filename[:-4]


# Deflate never shrinks data more than about 1032 to 1.
_MOST_DEFLATED = 1032


def _read_member(path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                 file_size: int) -> np.ndarray:
    """One member's array, once its header's shape and dtype are checked
    against the bytes the archive holds for it: a lying header is a
    LoadError, not an allocation of the size it claims."""
    name, held = info.filename[:-4], info.file_size
    if info.compress_size > file_size or (
            info.compress_type == zipfile.ZIP_STORED and
            held != info.compress_size) or (
            info.compress_type == zipfile.ZIP_DEFLATED and
            held > _MOST_DEFLATED * info.compress_size + 1024):
        raise LoadError(f'load: {path} is corrupt: {name!r} claims '
                        f'{held} bytes, more than the file holds')
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        header = f.tell()
    if dtype.hasobject:
        raise LoadError(f'load: {path}: {name!r} is an object array, which '
                        'only pickle could read (refused)')
    needed = math.prod(shape) * dtype.itemsize
    if needed > held - header:
        raise LoadError(f'load: {path} is corrupt: {name!r} claims shape '
                        f'{shape} of {dtype} ({needed} bytes), but holds '
                        f'{max(held - header, 0)} bytes of data')
    try:
        with archive.open(info) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except MemoryError:
        raise MemoryError(f'load: {path}: {name!r} needs {needed} bytes '
                          f'({shape} of {dtype}); not enough memory') from None


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
        array = to_host(value.data if isinstance(value, Value) else value)
        if array.dtype.hasobject:
            raise TypeError(f"save: '{name}' is an object array; only arrays "
                            'of numbers (or strings) are saved, without '
                            'pickle')
        why = _why_not(name, state)
        if why:
            raise ValueError(f'save: the name {name!r} would not load back '
                             f'as it is ({why})')
        arrays[name] = array
    return arrays


def _why_not(name: str, names) -> str:
    """Why `name` cannot be an archive member name, or ''."""
    if '\0' in name:
        return 'a NUL byte ends a name in a zip archive'
    if '\\' in name:
        return 'a backslash reads as / on Windows'
    try:
        name.encode('utf-8')
    except UnicodeEncodeError:
        return 'it is not valid Unicode'
    if name.endswith('.npy') and name[:-4] in names:
        return f'{name[:-4]!r} is saved as the member {name!r}'
    return ''


def _write_npz(f, arrays: dict[str, np.ndarray]) -> None:
    """What numpy.savez(f, **arrays) writes, one NAME.npy per array, but
    with no reserved names (savez's own 'file' and 'allow_pickle'
    parameters cannot be array names there)."""
    with zipfile.ZipFile(f, 'w', zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, array in arrays.items():
            with z.open(name + '.npy', 'w', force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
