"""The NumPy functions beyond the op table's reach: exact values at zeros
and ties, and the errors bad arguments get (the op table checks every
gradient against central differences and PyTorch)."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import micrograd as mg


def test_prod_gradient_at_one_zero_is_the_product_of_the_others():
    x = mg.Value(np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]]))
    x.prod(axis=1).backward()
    assert_allclose(x.grad, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0],
                             [8.0, 4.0, 2.0]])


def test_prod_gradient_takes_no_division_by_the_element():
    """1e-300 * 1e-300 * 1e300 underflows to 0, so out / x would give 0;
    the product of the others of the first element is 1e-300 * 1e300 = 1."""
    x = mg.Value(np.array([1e-300, 1e-300, 1e300]))
    x.prod().backward()
    assert_allclose(x.grad, [1.0, 1.0, 0.0])


def test_sign_floor_ceil_give_zero_gradients():
    x = mg.Value(np.array([-1.5, 0.0, 2.0, 0.3]))
    (mg.sign(x) + mg.floor(x) * 2 + x.ceil() * 3).sum().backward()
    assert_allclose(x.grad, np.zeros(4))


def test_mod_gradients_follow_numpy_mod():
    x, y = mg.Value(np.array([5.5, -5.5])), mg.Value(np.array([2.0, 2.0]))
    z = x % y
    assert_allclose(z.data, np.mod([5.5, -5.5], 2.0))
    z.sum().backward()
    assert_allclose(x.grad, [1.0, 1.0])
    assert_allclose(y.grad, [-2.0, 3.0])


def test_std_gradient_is_zero_where_all_equal():
    x = mg.Value(np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]]))
    x.std(axis=1).sum().backward()
    assert_allclose(x.grad[0], [0.0, 0.0, 0.0])
    assert np.all(np.isfinite(x.grad))


@pytest.mark.parametrize('fn', [mg.var, mg.std])
def test_ddof_too_large_is_refused(fn):
    with pytest.raises(ValueError, match=r'ddof=3 needs 0 <= ddof < 3'):
        fn(mg.Value(np.ones((2, 3))), axis=1, ddof=3)


def test_sort_sends_each_gradient_to_its_element():
    x = mg.Value(np.array([3.0, 1.0, 2.0]))
    out = mg.sort(x)
    assert_allclose(out.data, [1.0, 2.0, 3.0])
    out.backward(np.array([10.0, 20.0, 30.0]))
    assert_allclose(x.grad, [30.0, 10.0, 20.0])


def test_cumsum_and_sort_flatten_for_axis_none():
    x = np.arange(6.0).reshape(2, 3)[::-1]
    assert_allclose(mg.cumsum(mg.Value(x)).data, np.cumsum(x))
    assert_allclose(mg.sort(mg.Value(x), axis=None).data, np.sort(x, None))


@pytest.mark.parametrize('subscripts, shapes, match', [
    ('...ij,...jk', [(2, 3, 4), (3, 4, 5)], 'do not broadcast'),
    ('i...j...', [(2, 3, 4)], 'at most once'),
    ('ijk...', [(2, 3)], r'shape \(2, 3\) does not fit'),
    ('i..j...', [(2, 3)], 'no other dots')])
def test_einsum_ellipsis_errors_name_the_problem(subscripts, shapes, match):
    operands = [mg.Value(np.ones(s)) for s in shapes]
    with pytest.raises(ValueError, match=match):
        mg.einsum(subscripts, *operands)


def test_ndarray_remainder_value_is_a_value():
    x = mg.Value(np.array([3.0, 5.0]))
    out = np.array([7.0, 7.0]) % x
    assert isinstance(out, mg.Value) and out.data.tolist() == [1.0, 2.0]
    out.backward()
    assert x.grad.tolist() == [-2.0, -1.0]     # d(a % x)/dx = -floor(a / x)
