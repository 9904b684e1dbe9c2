"""micrograd.linalg beyond the op table (which checks every gradient against
central differences and PyTorch): the module's reach, slogdet's pair, the
norm at 0, and the errors bad shapes get."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import micrograd as mg


def test_reachable_as_an_attribute():
    assert mg.linalg.solve is not None and 'linalg' not in mg.__all__


def test_slogdet_gives_sign_and_logabsdet_like_numpy():
    a = np.array([[[0.0, 2.0], [3.0, 1.0]], [[2.0, 0.0], [0.0, 5.0]]])
    sign, logabsdet = mg.linalg.slogdet(mg.Value(a))
    want = np.linalg.slogdet(a)
    assert_allclose(sign.data, want.sign)
    assert_allclose(logabsdet.data, want.logabsdet)
    assert mg.linalg.slogdet(mg.Value(a)).sign.requires_grad is False


def test_slogdet_of_a_huge_determinant_has_a_finite_gradient():
    a = mg.Value(np.eye(3) * 1e200)
    mg.linalg.slogdet(a).logabsdet.backward()
    assert_allclose(a.grad, np.eye(3) * 1e-200)


def test_norm_gradient_at_zero_is_zero():
    x = mg.Value(np.array([[0.0, 0.0], [3.0, 4.0]]))
    mg.linalg.norm(x, axis=1).sum().backward()
    assert_allclose(x.grad, [[0.0, 0.0], [0.6, 0.8]])


def test_norm_frobenius_and_ord_two():
    x = np.arange(6.0).reshape(2, 3)
    assert_allclose(mg.linalg.norm(mg.Value(x), ord='fro', axis=(0, 1)).data,
                    np.linalg.norm(x, 'fro'))
    assert_allclose(mg.linalg.norm(mg.Value(x), ord=2, axis=-1).data,
                    np.linalg.norm(x, 2, axis=-1))


@pytest.mark.parametrize('call, match', [
    (lambda: mg.linalg.inv(np.ones((2, 3))), r'square matrices .* \(2, 3\)'),
    (lambda: mg.linalg.det(np.ones(3)), r'square matrices .* \(3,\)'),
    (lambda: mg.linalg.solve(np.eye(3), np.ones(2)),
     r'b of shape \(2,\) does not fit a of shape \(3, 3\)'),
    (lambda: mg.linalg.solve(np.eye(3), np.ones((2, 3))),
     r'b of shape \(2, 3\)'),
    (lambda: mg.linalg.norm(np.ones((2, 2, 2)), axis=(0, 1, 2)),
     'names 3 axes')])
def test_bad_shapes_are_refused_by_name(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize('ord, axis', [(1, None), ('fro', 0), (2, (0, 1))])
def test_unsupported_norms_say_what_is_supported(ord, axis):
    with pytest.raises(NotImplementedError, match='supported'):
        mg.linalg.norm(np.ones((2, 2)), ord=ord, axis=axis)
