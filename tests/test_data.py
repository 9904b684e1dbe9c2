"""Minibatches: row alignment, partial batches, seeded shuffling that changes
from epoch to epoch, dict batches that feed a graph, and the errors."""
import numpy as np
import pytest

from micrograd import Value
from micrograd.data import Batches, batches

X = np.arange(30.0).reshape(10, 3)        # row i of X is 3i, 3i+1, 3i+2
Y = np.arange(10)                         # and Y[i] = i: rows are checkable


def rows_of(xb):
    return (xb[:, 0] // 3).astype(int)


def test_in_order_with_the_last_partial_batch():
    got = list(batches(X, Y, batch_size=4))
    assert [len(yb) for _, yb in got] == [4, 4, 2]
    for xb, yb in got:
        assert isinstance(xb, np.ndarray) and xb.shape[1:] == (3,)
        np.testing.assert_array_equal(rows_of(xb), yb)       # aligned
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in got]), Y)
    assert len(batches(X, Y, batch_size=4)) == 3


@pytest.mark.parametrize('size, sizes', [(4, [4, 4]), (5, [5, 5]), (10, [10]),
                                         (11, []), (1, [1] * 10)])
def test_drop_last(size, sizes):
    loader = batches(Y, batch_size=size, drop_last=True)
    assert [len(b) for (b,) in loader] == sizes
    assert len(loader) == len(sizes)


def test_batch_size_larger_than_the_data():
    assert [len(b) for (b,) in batches(Y, batch_size=64)] == [10]


def test_a_single_array_gives_one_tuples():
    got = list(batches(Y, batch_size=6))
    assert [type(b) for b in got] == [tuple, tuple]
    np.testing.assert_array_equal(got[1][0], [6, 7, 8, 9])


def test_shuffle_keeps_rows_aligned_and_covers_every_row():
    got = list(batches(X, Y, batch_size=3, shuffle=True, seed=0))
    assert [len(yb) for _, yb in got] == [3, 3, 3, 1]
    for xb, yb in got:
        np.testing.assert_array_equal(rows_of(xb), yb)
    order = np.concatenate([yb for _, yb in got])
    assert sorted(order) == list(Y)
    assert list(order) != list(Y)


def epoch_order(loader):
    return [int(i) for (b,) in loader for i in b]


def test_each_epoch_draws_a_new_permutation_reproducibly():
    loader = batches(Y, batch_size=4, shuffle=True, seed=3)
    epochs = [epoch_order(loader) for _ in range(3)]
    assert all(sorted(e) == list(Y) for e in epochs)
    assert epochs[0] != epochs[1] != epochs[2] != epochs[0]
    again = batches(Y, batch_size=4, shuffle=True, seed=3)     # same seed:
    assert [epoch_order(again) for _ in range(3)] == epochs    # same epochs
    other = batches(Y, batch_size=4, shuffle=True, seed=4)
    assert epoch_order(other) != epochs[0]


def test_a_shared_generator_advances_across_calls():
    rng = np.random.default_rng(0)
    first = epoch_order(batches(Y, batch_size=10, shuffle=True, seed=rng))
    second = epoch_order(batches(Y, batch_size=10, shuffle=True, seed=rng))
    assert first != second and sorted(first) == sorted(second) == list(Y)


def test_without_shuffle_batches_are_views():
    (xb,), = [b for b in batches(X, batch_size=10)]
    assert np.shares_memory(xb, X)


def test_dict_batches_feed_a_graph():
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    y = Value(shape=(None,), name='y', requires_grad=False)
    loss = (x.sum(axis=1) - 9 * y).sum()     # 9i + 3 - 9i = 3 per row
    totals = []
    for feeds in batches({'x': X, 'y': Y}, batch_size=4, shuffle=True,
                         seed=1):
        assert list(feeds) == ['x', 'y']
        np.testing.assert_array_equal(rows_of(feeds['x']), feeds['y'])
        loss.forward(**feeds)
        totals.append(float(loss.data))
    assert totals == [12.0, 12.0, 6.0]


def test_lists_are_accepted():
    got = list(batches([[1, 2], [3, 4], [5, 6]], [7, 8, 9], batch_size=2,
                       shuffle=True, seed=0))
    assert sum(len(b) for _, b in got) == 3
    for xb, yb in got:
        np.testing.assert_array_equal(xb[:, 0], (yb - 7) * 2 + 1)


def test_repr_and_type():
    loader = batches(X, Y, batch_size=4, shuffle=True)
    assert isinstance(loader, Batches)
    assert repr(loader) == ('Batches(2 arrays, 10 rows, batch_size=4, '
                            'shuffle=True, drop_last=False)')


@pytest.mark.parametrize('call, error, message', [
    (lambda: batches(np.ones(3), np.ones(2), batch_size=1), ValueError,
     r'batches: the arrays must have the same number of rows, got array 0: '
     r'3, array 1: 2'),
    (lambda: batches({'x': np.ones((3, 2)), 'y': np.ones(4)}, batch_size=1),
     ValueError, r'same number of rows, got x: 3, y: 4'),
    (lambda: batches(np.ones(3), batch_size=0), ValueError,
     r'batches: batch_size must be a positive int, got 0'),
    (lambda: batches(np.ones(3), batch_size=-2), ValueError,
     r'batch_size must be a positive int, got -2'),
    (lambda: batches(np.ones(3), batch_size=2.0), ValueError,
     r'batch_size must be a positive int, got 2.0'),
    (lambda: batches(np.ones(3), batch_size=True), ValueError,
     r'batch_size must be a positive int, got True'),
    (lambda: batches(batch_size=2), ValueError,
     r'batches: give at least one array'),
    (lambda: batches({}, batch_size=2), ValueError,
     r'batches: give at least one array'),
    (lambda: batches(np.float64(3.0), batch_size=2), ValueError,
     r'batches: array 0 is 0-d'),
    (lambda: batches(Value(np.ones(3)), batch_size=2), TypeError,
     r'batches: array 0 is a Value; pass its .data'),
    (lambda: batches({'x': np.ones(2)}, np.ones(2), batch_size=1), TypeError,
     r'batches: give either arrays or one dict'),
    (lambda: batches({0: np.ones(2)}, batch_size=1), TypeError,
     r'batches: dict keys must be strings'),
])
def test_errors_are_raised_at_the_call(call, error, message):
    with pytest.raises(error, match=message):
        call()
