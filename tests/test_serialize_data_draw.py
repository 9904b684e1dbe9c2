"""save/load, minibatches, graph drawing."""
import numpy as np
import pytest

import micrograd as mg
from micrograd import Value, nn
from micrograd.data import batches
from micrograd.serialize import LoadError


def test_save_load_round_trip_bit_for_bit(tmp_path):
    model = nn.TensorMLP(3, [5, 2], rng=0, dtype='float32')
    path = tmp_path / 'model.npz'
    mg.save(path, model.state_dict())
    state = mg.load(path)
    assert list(state) == [n for n, _ in model.named_parameters()]
    other = nn.TensorMLP(3, [5, 2], rng=1, dtype='float32')
    other.load_state_dict(state)
    for (_, a), (_, b) in zip(model.named_parameters(),
                              other.named_parameters()):
        assert a.data.dtype == b.data.dtype == np.float32
        assert a.data.tobytes() == b.data.tobytes()
    mg.save(tmp_path / 'v.npz', {'w': Value(np.arange(3.0))})
    np.testing.assert_array_equal(mg.load(tmp_path / 'v.npz')['w'], [0, 1, 2])


def test_save_refuses_objects_and_load_reports_bad_files(tmp_path):
    with pytest.raises(TypeError, match="'x' is an object array"):
        mg.save(tmp_path / 'o.npz', {'x': np.array([{}, 1], dtype=object)})
    with pytest.raises(FileNotFoundError, match='no such file'):
        mg.load(tmp_path / 'missing.npz')
    good = tmp_path / 'good.npz'
    mg.save(good, {'w': np.ones((100, 100))})
    truncated = tmp_path / 'truncated.npz'
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(LoadError, match='truncated.npz is not a readable'):
        mg.load(truncated)
    garbage = tmp_path / 'garbage.npz'
    garbage.write_bytes(b'not a zip file at all')
    with pytest.raises(LoadError, match='garbage.npz'):
        mg.load(garbage)


def test_batches_order_partial_and_drop_last():
    X, y = np.arange(10).reshape(10, 1), np.arange(10)
    got = list(batches(X, y, batch_size=4))
    assert [len(b[1]) for b in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), y)
    assert [len(b[1]) for b in batches(X, y, batch_size=4, drop_last=True)] \
        == [4, 4]


def test_batches_shuffle_is_seeded_and_complete():
    y = np.arange(20)
    a = np.concatenate(list(b for (b,) in batches(y, batch_size=6,
                                                  shuffle=True, seed=1)))
    b = np.concatenate(list(b for (b,) in batches(y, batch_size=6,
                                                  shuffle=True, seed=1)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, y)
    np.testing.assert_array_equal(np.sort(a), y)
    rng = np.random.default_rng(0)
    first = np.concatenate([b for (b,) in batches(y, batch_size=20,
                                                  shuffle=True, seed=rng)])
    second = np.concatenate([b for (b,) in batches(y, batch_size=20,
                                                   shuffle=True, seed=rng)])
    assert not np.array_equal(first, second)     # a generator advances


def test_batches_of_a_dict_feed_a_graph():
    x = Value(shape=(None, 2), name='x', requires_grad=False)
    loss = (x * 2).sum()
    data = {'x': np.ones((5, 2))}
    totals = []
    for batch in batches(data, batch_size=2):
        loss.forward(**batch)
        totals.append(float(loss.data))
    assert totals == [8.0, 8.0, 4.0]


def test_batches_errors():
    with pytest.raises(ValueError, match=r'different numbers of rows: \[3, 2\]'):
        list(batches(np.ones(3), np.ones(2), batch_size=1))
    with pytest.raises(ValueError, match='batch_size must be a positive int'):
        list(batches(np.ones(3), batch_size=0))


def test_to_dot_describes_the_graph():
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    w = Value(np.ones((3, 2)))
    loss = ((x @ w).relu() * 2).mean()
    dot = mg.to_dot(loss)
    assert dot.startswith('digraph micrograd {') and dot.rstrip().endswith('}')
    for text in ('placeholder x', 'matmul', 'relu', 'mul', 'mean', 'leaf',
                 'constant', '(3, 2) float64'):
        assert text in dot
    nodes = [l for l in dot.splitlines() if '[label=' in l]
    edges = [l for l in dot.splitlines() if '->' in l]
    assert len(nodes) == len(loss.topo()) == 7
    assert len(edges) == sum(len(n.parents) for n in loss.topo()) == 6
    assert dot == mg.to_dot(loss)


def test_draw_dot():
    loss = (Value(np.ones(2)) * 3).sum()
    try:
        import graphviz  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match='pip install graphviz'):
            mg.draw_dot(loss)
        return
    graph = mg.draw_dot(loss)
    assert type(graph).__name__ == 'Digraph' and 'mul' in graph.source
