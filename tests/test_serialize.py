"""save/load: .npz without pickle, bit-for-bit round trips, clear errors for
missing, corrupt and truncated files."""
import io
import os
import pickle
import re
import signal
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, nn
from micrograd import serialize
from micrograd.serialize import LoadError, load, save

rng = np.random.default_rng(0)


def assert_identical(a, b):
    """Same dtype (byte order included), shape and bytes."""
    assert a.dtype == b.dtype and a.dtype.str == b.dtype.str
    assert a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def test_round_trip_is_bit_for_bit(tmp_path):
    state = {
        'layers.0.weight': rng.standard_normal((3, 4)).astype(np.float32),
        'layers.0.bias': np.array([np.nan, -0.0, np.inf, 1e-310]),
        'scalar': np.float16(3.5),
        'step': np.array(7, dtype=np.int64),
        'mask': rng.random(5) > 0.5,
        'big_endian': np.arange(4, dtype='>f8'),
        'fortran': np.asfortranarray(rng.standard_normal((2, 3))),
        'empty': np.zeros((0, 3), dtype=np.complex128),
        'text': np.array(['a', 'bc']),
        'a/b': np.ones(2),
        'x.npy': np.ones(1),
        'ünïcode': np.ones(3, dtype=np.uint8),
        # numpy.savez reserves these two names for its own parameters
        'file': np.arange(3), 'allow_pickle': np.arange(2),
    }
    path = tmp_path / 'state.npz'
    save(path, state)
    loaded = load(path)
    assert list(loaded) == list(state)             # names and order
    for name, array in state.items():
        assert_identical(np.asarray(array), loaded[name])
    assert loaded['fortran'].flags.f_contiguous
    with np.load(path, allow_pickle=False) as plain:    # NumPy reads it too
        assert sorted(plain.files) == sorted(state)


def test_values_are_saved_as_their_data(tmp_path):
    w = Value(rng.standard_normal((2, 2)), dtype='float32')
    save(tmp_path / 'v.npz', {'w': w, 'n': 3.0, 'list': [1, 2]})
    loaded = load(tmp_path / 'v.npz')
    assert_identical(loaded['w'], w.data)
    assert loaded['n'].shape == () and float(loaded['n']) == 3.0
    np.testing.assert_array_equal(loaded['list'], [1, 2])


def test_a_model_state_round_trip(tmp_path):
    model = nn.TensorMLP(3, [5, 2], rng=0, dtype='float32')
    mg.save(str(tmp_path / 'model.npz'), model.state_dict())
    other = nn.TensorMLP(3, [5, 2], rng=1, dtype='float32')
    other.load_state_dict(mg.load(str(tmp_path / 'model.npz')))
    for (name, a), (_, b) in zip(model.named_parameters(),
                                 other.named_parameters()):
        assert '.' in name
        assert_identical(a.data, b.data)


def test_save_writes_exactly_the_path_and_replaces_it(tmp_path):
    path = tmp_path / 'weights'                     # no .npz added
    save(path, {'a': np.ones(2)})
    save(path, {'b': np.zeros(3)})                  # overwrite
    assert list(load(path)) == ['b']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['weights']


def test_a_failed_save_leaves_the_old_file(tmp_path):
    path = tmp_path / 'keep.npz'
    save(path, {'a': np.arange(3.0)})
    before = path.read_bytes()
    with pytest.raises(TypeError, match="'bad' is an object array"):
        save(path, {'ok': np.ones(2), 'bad': np.array([None, 1])})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ['keep.npz']


@pytest.mark.parametrize('state, error, message', [
    ({'x': np.array([{}, 1], dtype=object)}, TypeError,
     "save: 'x' is an object array"),
    ({'x': np.zeros(2, dtype=[('a', 'f8'), ('b', 'O')])}, TypeError,
     "save: 'x' is an object array"),
    ({1: np.ones(2)}, TypeError, 'save: names must be non-empty strings, '
     'got 1'),
    ({'': np.ones(2)}, TypeError, 'save: names must be non-empty strings'),
    ([('x', np.ones(2))], TypeError, 'save: state must be a dict of name '
     '-> array, got list'),
])
def test_save_refuses(tmp_path, state, error, message):
    with pytest.raises(error, match=message):
        save(tmp_path / 'out.npz', state)
    assert not list(tmp_path.iterdir())


def test_save_into_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='the folder .*nowhere does '
                                                'not exist'):
        save(tmp_path / 'nowhere' / 'x.npz', {'a': np.ones(1)})


def test_load_missing_file_or_folder(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'load: no such file: .*missing\.npz'):
        load(tmp_path / 'missing.npz')
    with pytest.raises(IsADirectoryError, match='is a folder'):
        load(tmp_path)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / 'good.npz'
    save(path, {'w': rng.standard_normal((50, 40)), 'b': np.ones(40)})
    return path


@pytest.mark.parametrize('keep', [0, 10, 100, 1000, 16000, -22, -1])
def test_load_truncated_file(saved, keep):
    data = saved.read_bytes()
    assert 0 < keep % len(data) < len(data) or keep == 0
    saved.write_bytes(data[:keep])
    with pytest.raises(LoadError, match=r'load: .*good\.npz is not a '
                                        r'readable \.npz archive') as error:
        load(saved)
    assert isinstance(error.value, ValueError)


def test_load_corrupt_file(saved):
    data = bytearray(saved.read_bytes())
    data[len(data) // 3] ^= 0xFF                  # one flipped byte in w
    saved.write_bytes(bytes(data))
    with pytest.raises(LoadError, match=r'good\.npz .*CRC'):
        load(saved)


@pytest.mark.parametrize('content, message', [
    (b'not an archive at all', 'not a readable .npz archive'),
    (pickle.dumps({'w': np.ones(2)}), 'not a readable .npz archive'),
])
def test_load_refuses_other_files(tmp_path, content, message):
    path = tmp_path / 'other.npz'
    path.write_bytes(content)
    with pytest.raises(LoadError, match=message):
        load(path)


def test_load_refuses_a_single_npy(tmp_path):
    path = tmp_path / 'one.npy'
    np.save(path, np.ones(3))
    with pytest.raises(LoadError, match=r'one\.npy holds a single array'):
        load(path)


def test_load_never_unpickles(tmp_path):
    path = tmp_path / 'objects.npz'
    np.savez(path, x=np.array([{'a': 1}, None], dtype=object))  # pickled
    with pytest.raises(LoadError, match='objects.npz'):
        load(path)


def test_load_refuses_a_zip_of_other_files(tmp_path):
    path = tmp_path / 'files.npz'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('notes.txt', 'hello')
    with pytest.raises(LoadError, match="'notes.txt' is not a .npy array"):
        load(path)


# ---- modes, temporary files, lying headers, names --------------------------

posix_only = pytest.mark.skipif(os.name != 'posix', reason='POSIX modes')


@posix_only
def test_save_follows_the_umask_and_keeps_an_existing_mode(tmp_path):
    path = tmp_path / 'model.npz'
    old = os.umask(0o027)
    try:
        save(path, {'a': np.ones(2)})
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        os.umask(0o022)
        save(tmp_path / 'other.npz', {'a': np.ones(2)})
        assert stat.S_IMODE((tmp_path / 'other.npz').stat().st_mode) == 0o644
        path.chmod(0o604)                           # kept, whatever the umask
        save(path, {'b': np.zeros(2)})
        assert stat.S_IMODE(path.stat().st_mode) == 0o604
        assert list(load(path)) == ['b']
    finally:
        os.umask(old)


KILLED_SAVE = r'''
import sys, time
import numpy as np
from micrograd import serialize

def stall(f, arrays):
    f.write(b'x' * 100000)
    f.flush()
    print('writing', flush=True)
    time.sleep(60)

serialize._write_npz = stall
serialize.save(sys.argv[1], {'a': np.ones(3)})
'''


@posix_only
def test_a_killed_save_leaves_a_named_temporary_that_the_next_save_removes(
        tmp_path):
    path = tmp_path / 'model.npz'
    save(path, {'old': np.arange(3.0)})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen([sys.executable, '-c', KILLED_SAVE, str(path)],
                             stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout.readline() == b'writing\n'
        leftover = tmp_path / f'.model.npz.tmp-{child.pid}'
        assert leftover.stat().st_size == 100000
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert list(load(path)) == ['old']              # the old file is whole
    # a temporary of a process that still runs (this test's parent) is kept,
    # as are other files; a stale one of this very process is removed
    running = tmp_path / f'.model.npz.tmp-{os.getppid()}'
    mine = tmp_path / f'.model.npz.tmp-{os.getpid()}-3'
    others = [tmp_path / '.other.npz.tmp-999999999', tmp_path / 'notes.txt']
    for extra in [running, mine] + others:
        extra.write_bytes(b'x')
    save(path, {'new': np.ones(2)})
    assert not leftover.exists() and not mine.exists()
    assert running.exists() and all(p.exists() for p in others)
    assert list(load(path)) == ['new']


def test_save_writes_no_file_but_the_target(tmp_path, monkeypatch):
    seen = []
    real = serialize._write_npz

    def spy(f, arrays):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        real(f, arrays)

    monkeypatch.setattr(serialize, '_write_npz', spy)
    save(tmp_path / 'model.npz', {'a': np.ones(2)})
    assert seen == [[f'.model.npz.tmp-{os.getpid()}']]
    assert [p.name for p in tmp_path.iterdir()] == ['model.npz']


def npy_bytes(shape, data, descr='<f8'):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {'descr': descr, 'fortran_order': False, 'shape': shape})
    return header.getvalue() + data


@pytest.mark.parametrize('compression', [zipfile.ZIP_STORED,
                                         zipfile.ZIP_DEFLATED])
def test_load_refuses_a_header_that_claims_more_than_the_file(tmp_path,
                                                             compression):
    path = tmp_path / 'liar.npz'
    with zipfile.ZipFile(path, 'w', compression) as z:
        z.writestr('ok.npy', npy_bytes((2,), np.ones(2).tobytes()))
        z.writestr('w.npy', npy_bytes((10 ** 12,), b'\0' * 8))
    assert path.stat().st_size < 1000
    with pytest.raises(LoadError, match=r"liar\.npz is corrupt: 'w' claims "
                                        r'shape \(1000000000000,\)'):
        load(path)


def test_load_refuses_a_member_size_larger_than_the_file(tmp_path):
    path = tmp_path / 'liar.npz'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('w.npy', npy_bytes((1000,), np.zeros(1000).tobytes()))
    data = bytearray(path.read_bytes())
    # the central directory's uncompressed size of the one member
    central = data.index(b'PK\x01\x02')
    data[central + 24:central + 28] = (2 ** 32 - 2).to_bytes(4, 'little')
    path.write_bytes(bytes(data))
    with pytest.raises(LoadError, match=r"liar\.npz is corrupt: 'w' claims "
                                        '4294967294 bytes'):
        load(path)


def test_load_refuses_a_name_twice(tmp_path):
    path = tmp_path / 'twice.npz'
    with pytest.warns(UserWarning, match='Duplicate name'):
        with zipfile.ZipFile(path, 'w') as z:
            z.writestr('w.npy', npy_bytes((1,), np.ones(1).tobytes()))
            z.writestr('w.npy', npy_bytes((1,), np.zeros(1).tobytes()))
    with pytest.raises(LoadError, match="twice.npz is corrupt: 'w' is in "
                                        'it twice'):
        load(path)


@pytest.mark.parametrize('names, bad, why', [
    (['a', 'a.npy'], 'a.npy', "'a' is saved as the member 'a.npy'"),
    (['x.npy', 'x'], 'x.npy', "'x' is saved as the member 'x.npy'"),
    (['a\0b'], 'a\x00b', 'a NUL byte ends a name'),
    (['a\\b'], 'a\\b', 'a backslash reads as / on Windows'),
    (['\udc80'], '\udc80', 'it is not valid Unicode'),
])
def test_save_refuses_names_that_would_not_load_back(tmp_path, names, bad,
                                                     why):
    with pytest.raises(ValueError, match=re.escape(
            f'save: the name {bad!r} would not load back as it is ({why}')):
        save(tmp_path / 'out.npz', {n: np.ones(1) for n in names})
    assert not list(tmp_path.iterdir())
