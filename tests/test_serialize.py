"""save/load: .npz without pickle, bit-for-bit round trips, clear errors for
missing, corrupt and truncated files."""
import pickle
import zipfile

import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, nn
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
