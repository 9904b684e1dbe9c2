"""The demo's files: numeric CSVs in (pandas' C reader, chunk by chunk into
preallocated arrays), output paths checked before any work, and the model
file (weights and everything prediction needs, no pickle)."""
from __future__ import annotations

import codecs
import csv
import os
import tempfile

import numpy as np

from .. import nn
from ..serialize import LoadError, load, save


class DemoError(Exception):
    """Bad input: reported in one line, exit status 2."""


# ---------------------------------------------------------------- CSV in

CHUNK_CELLS = 2_000_000         # cells per chunk parsed at once (16 MB)


def read_csv(path: str, target: str | None, dtype, encoding: str = 'utf-8',
             features: list | None = None):
    """A numeric CSV with a header row -> X, y, feature names.

    X has every column but `target` (or the columns `features`, in that
    order), y the target column (None without a target). Cells are parsed
    by pandas' C reader a chunk of rows at a time into one array of
    `dtype`: memory is the result plus one chunk. A UTF-8 byte-order mark
    is skipped and blank lines are ignored, as pandas does. Refused, in one
    line naming the line and column: repeated column names, a line with
    the wrong number of fields, a cell that is not a number, or one that is
    not finite in `dtype` (empty, nan, inf, 1e400; 1e39 in float32).
    """
    try:
        import pandas as pd
    except ImportError:
        raise DemoError('reading a CSV needs pandas (pip install '
                        '"micrograd[demo]")') from None
    header = read_header(path, encoding)
    if target is not None and target not in header:
        raise DemoError(f"{path}: no column '{target}'; columns: "
                        + ', '.join(header))
    names = [h for h in header if h != target] if features is None else \
        list(features)
    if not names:
        raise DemoError(f'{path}: no feature column besides the target')
    where = {h: i for i, h in enumerate(header)}
    missing = [n for n in names if n not in where]
    if missing:
        raise DemoError(f'{path}: no column ' + ', '.join(missing))
    columns = [where[n] for n in names]
    used = sorted(set(columns) | ({where[target]} if target else set()))
    places = {j: k for k, j in enumerate(used)}       # header -> block column
    rows = _count_lines(path)                     # an upper bound on rows
    X = np.empty((rows, len(names)), dtype=dtype)
    y = None if target is None else np.empty(rows, dtype=dtype)
    chunk_rows = max(1000, CHUNK_CELLS // len(header))
    done = 0
    try:
        reader = pd.read_csv(path, header=None, skiprows=1, index_col=False,
                             chunksize=chunk_rows, encoding=encoding,
                             low_memory=False)
        for chunk in reader:
            if chunk.shape[1] != len(header):
                _explain(path, encoding, header, used, done, dtype)
            block = np.empty((len(chunk), len(used)), dtype=dtype)
            for k, j in enumerate(used):
                column = chunk.iloc[:, j]
                if not pd.api.types.is_numeric_dtype(column.dtype):
                    column = pd.to_numeric(column, errors='coerce')
                with np.errstate(over='ignore', invalid='ignore'):
                    block[:, k] = column.to_numpy(dtype=np.float64)
            bad = ~np.isfinite(block).all(axis=1)
            if bad.any():
                _explain(path, encoding, header, used,
                         done + int(bad.argmax()), dtype)
            X[done:done + len(chunk)] = block[:, [places[j] for j in columns]]
            if y is not None:
                y[done:done + len(chunk)] = block[:, places[where[target]]]
            done += len(chunk)
    except pd.errors.EmptyDataError:
        pass
    except pd.errors.ParserError:
        _explain(path, encoding, header, used, done, dtype)
    except UnicodeDecodeError as exc:
        raise DemoError(_not_decodable(path, encoding, exc)) from None
    if done < 2 and features is None:
        raise DemoError(f'{path}: needs a header row and at least 2 data rows')
    if done == 0:
        raise DemoError(f'{path}: no data rows')
    return X[:done], None if y is None else y[:done], names


def read_parquet(path: str, target: str, dtype):
    """A Parquet dataset (a file, or a folder of files) -> X, y, feature
    names, in memory: every column but `target` is a feature. Refused in one
    line: a missing target, a column that is not numeric, a cell that is
    not finite in `dtype`."""
    try:
        import pandas as pd
        frame = pd.read_parquet(path)
    except ImportError:
        raise DemoError('reading Parquet needs pandas and pyarrow (pip '
                        'install "micrograd[distributed]")') from None
    except (OSError, ValueError) as exc:
        raise DemoError(f'{path}: cannot read it as Parquet: {exc}') from None
    names = parquet_columns(path, frame.dtypes, target)
    X = frame_array(path, frame[names], dtype)
    return X, frame_array(path, frame[[target]], dtype)[:, 0], names


def parquet_columns(path: str, dtypes, target: str) -> list:
    """The feature columns (all but `target`), checked numeric."""
    columns = [str(c) for c in dtypes.index]
    if target not in columns:
        raise DemoError(f"{path}: no column '{target}'; columns: "
                        + ', '.join(columns))
    text = [c for c, t in zip(columns, dtypes) if t.kind not in 'biuf']
    if text:
        raise DemoError(f"{path}: column '{text[0]}' is not numeric "
                        f'({dtypes.iloc[columns.index(text[0])]})')
    names = [c for c in columns if c != target]
    if not names:
        raise DemoError(f'{path}: no feature column besides the target')
    return names


def frame_array(path: str, frame, dtype) -> np.ndarray:
    """A numeric pandas frame as an array of `dtype`; a cell that is not
    finite there is refused, naming its column and row."""
    with np.errstate(over='ignore', invalid='ignore'):
        array = frame.to_numpy(dtype=np.float64).astype(dtype)
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DemoError(f"{path}: column '{frame.columns[col]}', row {row}: "
                        f'{frame.iat[row, col]!r} is not a finite '
                        f'{np.dtype(dtype).name} number')
    return array


def read_header(path: str, encoding: str) -> list:
    """The stripped column names of the first line (a BOM skipped), checked:
    none empty, none repeated."""
    if not os.path.isfile(path):
        raise DemoError(f'no such file: {path}')
    try:
        with open(path, newline='', encoding=_sig(encoding)) as f:
            header = [h.strip() for h in next(csv.reader(f), [])]
    except UnicodeDecodeError as exc:
        raise DemoError(_not_decodable(path, encoding, exc)) from None
    except (OSError, csv.Error) as exc:
        raise DemoError(f'{path}: cannot read it: {exc}') from None
    if not header:
        raise DemoError(f'{path}: empty file (expected a header row)')
    if '' in header:
        raise DemoError(f'{path}: column {header.index("") + 1} of the header '
                        'has no name')
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise DemoError(f'{path}: repeated column names: '
                        + ', '.join(repeated) + ' (each column needs its own '
                        'name)')
    return header


def _explain(path, encoding, header, used, record: int, dtype):
    """Raise the DemoError for the first bad data record from `record` on
    (0-based, blank lines not counted): its line number, column and cell (of
    the columns `used`), read again with the csv module (only on this error
    path)."""
    with open(path, newline='', encoding=_sig(encoding)) as f:
        reader = csv.reader(f)
        next(reader)
        seen = -1
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue                          # blank: pandas skips it
            seen += 1
            if seen < record:
                continue
            line = reader.line_num
            if len(row) != len(header):
                raise DemoError(f'{path}: line {line} has {len(row)} fields, '
                                f'the header has {len(header)}')
            for j in used:
                name, cell = header[j], row[j]
                text = cell.strip()
                try:
                    value = float(text)
                except ValueError:
                    if text == '' or text.lower() in _NA:
                        raise DemoError(f"{path}: line {line}, column "
                                        f"'{name}': a missing value "
                                        f'({cell!r}); every cell must be a '
                                        'finite number') from None
                    raise DemoError(f"{path}: column '{name}' is not numeric "
                                    f'(line {line}: {cell!r})') from None
                with np.errstate(over='ignore'):
                    if not np.isfinite(np.asarray(value, dtype=dtype)):
                        raise DemoError(
                            f"{path}: line {line}, column '{name}': {cell!r} "
                            f'is not a finite {np.dtype(dtype).name} number')
    raise DemoError(f'{path}: cannot read the data rows after row {record}')


_NA = {'na', 'n/a', 'nan', 'null', 'none', '#n/a', '<na>', '-nan'}


def _sig(encoding: str) -> str:
    """UTF-8 read with its byte-order mark skipped, as pandas does."""
    return 'utf-8-sig' if codecs.lookup(encoding).name == 'utf-8' else encoding


def _not_decodable(path, encoding, exc) -> str:
    return (f'{path}: not {encoding} text (byte {exc.object[exc.start]:#x} at '
            f'offset {exc.start} of a block); give its encoding, e.g. '
            '--encoding latin-1')


def _count_lines(path: str) -> int:
    """Newlines in the file, plus one: at least the number of data rows."""
    count = 0
    with open(path, 'rb') as f:
        while block := f.read(1 << 24):
            count += block.count(b'\n')
    return count + 1


# ---------------------------------------------------------------- outputs

def check_folder(folder: str) -> str:
    """Create `folder` (and its parents) if needed and check that a file can
    be written there, before any work is done."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise DemoError(f'--out {folder}: is a file, not a folder')
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise DemoError(f'--out {folder}: cannot write there '
                        f'({exc.strerror or exc})') from None
    return folder


def check_file(path: str, option: str = '--out') -> str:
    """Check that `path` can be written (its folder exists and is writable,
    and it is not a folder), before any work is done."""
    if os.path.isdir(path):
        raise DemoError(f'{option} {path}: is a folder; give a file name')
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DemoError(f'{option} {path}: the folder {folder} does not exist')
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise DemoError(f'{option} {path}: cannot write there '
                        f'({exc.strerror or exc})') from None
    return path


# ---------------------------------------------------------------- the model

def save_model(path, model, *, features, target, quantiles, hidden,
               x_mean, x_scale, y_mean, y_scale) -> None:
    """The weights and everything prediction needs, in one .npz (no
    pickle: the names are a string array). Refuses non-finite weights, so
    a diverged run never replaces a good file."""
    state = model.state_dict()
    for name, array in state.items():
        if not np.isfinite(np.asarray(array)).all():
            raise DemoError(f'the trained parameters are not finite '
                            f"('{name}'); {path} was not written (try a "
                            'smaller --lr)')
    state.update({
        'meta.features': np.array(features, dtype=str),
        'meta.target': np.array(target, dtype=str),
        'meta.quantiles': np.asarray(quantiles, dtype=np.float64),
        'meta.layer_sizes': np.array([len(features), hidden, len(quantiles)]),
        'meta.x_mean': np.asarray(x_mean, dtype=np.float64),
        'meta.x_scale': np.asarray(x_scale, dtype=np.float64),
        'meta.y_mean': np.float64(y_mean),
        'meta.y_scale': np.float64(y_scale)})
    save(path, state)


META = ('features', 'target', 'quantiles', 'layer_sizes', 'x_mean',
        'x_scale', 'y_mean', 'y_scale')


def load_model(path: str):
    """(model, meta) from a file `save_model` wrote; one-line errors."""
    try:
        state = load(path)
    except (OSError, LoadError) as exc:
        raise DemoError(str(exc)) from None
    missing = [k for k in META if f'meta.{k}' not in state]
    if missing:
        raise DemoError(f'--model {path}: not a model saved by '
                        '`python -m micrograd.demo quantile` (no '
                        + ', '.join(f'meta.{k}' for k in missing) + ')')
    meta = {k: state.pop(f'meta.{k}') for k in META}
    meta['features'] = [str(f) for f in meta['features']]
    meta['target'] = str(meta['target'])
    meta['quantiles'] = [float(q) for q in meta['quantiles']]
    nin, hidden, nout = (int(n) for n in meta['layer_sizes'])
    dtype = state['layers.0.weight'].dtype if 'layers.0.weight' in state \
        else np.dtype('float64')
    model = nn.TensorMLP(nin, [hidden, nout], dtype=dtype.name)
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError, TypeError) as exc:
        raise DemoError(f'--model {path}: the weights do not fit a '
                        f'{nin}-{hidden}-{nout} MLP: {exc}') from None
    return model, meta
