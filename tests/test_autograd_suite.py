"""The gradients a well-known NumPy autodiff library tests, written for this
API: the same functions and the same kinds of input (vectors, matrices,
batches, keepdims, ddof, ...), each checked with `micrograd.gradcheck`
(central differences). Functions micrograd does not have are listed at the
end as expected failures, so that adding one shows up here."""
import numpy as np
import pytest

import micrograd as mg

rng = np.random.default_rng(1)


def randn(*shape):
    return rng.standard_normal(shape)


def positive_definite(n, batch=()):
    b = randn(*batch, n, n)
    return b @ np.swapaxes(b, -1, -2) + n * np.eye(n)


A6, Z6 = randn(6, 6) + 6 * np.eye(6), randn(6)   # fixed inside functions


def sym(a):
    """(L + L^T) / 2 of a's lower triangle (cholesky reads only that)."""
    lower = a * np.tril(np.ones(a.shape[-2:]))
    axes = tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2)
    return (lower + mg.transpose(lower, axes)) * 0.5


CASES = {
    # scalar functions, at scalars (3 * f(x), as the original tests)
    'abs': (lambda x: 3.0 * mg.abs(x), [np.array(1.1)]),
    'abs negative': (lambda x: 3.0 * mg.abs(x), [np.array(-1.1)]),
    'sign': (lambda x: 3.0 * mg.sign(x), [np.array(1.1)]),
    'sin': (lambda x: 3.0 * mg.sin(x), [randn()]),
    'cos': (lambda x: 3.0 * mg.cos(x), [randn()]),
    'tan': (lambda x: 3.0 * mg.tan(x), [np.array(0.4)]),
    'exp': (lambda x: 3.0 * mg.exp(x), [randn()]),
    'log': (lambda x: 3.0 * mg.log(x), [np.abs(randn()) + 0.1]),
    'neg': (lambda x: 3.0 * -x, [randn()]),
    'sinh': (lambda x: 3.0 * mg.sinh(x), [randn()]),
    'cosh': (lambda x: 3.0 * mg.cosh(x), [randn()]),
    'tanh': (lambda x: 3.0 * mg.tanh(x), [randn()]),
    # arrays
    'dot matrix vector': (mg.matmul, [randn(10, 11), randn(11)]),
    'dot matrices': (mg.matmul, [randn(10, 11), randn(11, 10)]),
    'dot vector matrix': (mg.matmul, [randn(10), randn(10, 11)]),
    'dot vectors': (mg.matmul, [randn(11), randn(11)]),
    'dot with a scalar': (mg.mul, [randn(10, 11), randn()]),
    'outer': (lambda x, y: mg.einsum('i,j->ij', x, y), [randn(11), randn(11)]),
    'max': (mg.max, [randn(10, 11)]),
    'max axis': (lambda x: mg.max(x, axis=1), [randn(3, 4, 5)]),
    'max keepdims': (lambda x: mg.max(x, axis=1, keepdims=True),
                     [randn(3, 4, 5)]),
    'min axis': (lambda x: mg.min(x, axis=1), [randn(3, 4, 5)]),
    'sum': (mg.sum, [randn(10, 11)]),
    'sum axis keepdims': (lambda x: mg.sum(x, axis=0, keepdims=True),
                          [randn(10, 11)]),
    'sum axis tuple': (lambda x: mg.sum(x, axis=(1, 2)), [randn(10, 11, 7)]),
    'mean axis': (lambda x: mg.mean(x, axis=0), [randn(10, 11)]),
    'cumsum axis 0': (lambda x: mg.cumsum(x, axis=0), [randn(10, 11)]),
    'cumsum axis 1': (lambda x: mg.cumsum(x, axis=1), [randn(10, 11)]),
    'cumsum 1-d': (mg.cumsum, [randn(10)]),
    'cumsum flattened': (mg.cumsum, [randn(10, 11)]),
    'python sum': (lambda x, y: sum([x, y]), [randn(10, 11), randn(10, 11)]),
    'index ints': (lambda x: x[3, 0, 1], [randn(5, 6, 4)]),
    'index slices': (lambda x: x[::-1, 2:4, :], [randn(5, 6, 4)]),
    'index list': (lambda x: x[np.array([0, 1, 2]), :, :], [randn(5, 6, 4)]),
    'index mixed': (lambda x: x[3, 2:, np.array([1, 3])], [randn(5, 6, 4)]),
    'index fan-out': (lambda x: x[::-1, 2:4] + x[::-1, 3:5], [randn(5, 6, 4)]),
    'index of index': (lambda x: x[2:6][1:3], [randn(7)]),
    'index repeated': (lambda x: mg.sum(x[np.array([0, 1, 0])]), [randn(3)]),
    'dot of slices': (lambda x: x[:2] @ x[2:], [randn(4)]),
    'reshape': (lambda x: x.reshape((20, 6)), [randn(5, 6, 4)]),
    'reshape unpacked': (lambda x: x.reshape(20, 6), [randn(5, 6, 4)]),
    'flatten': (lambda x: x.reshape(-1), [randn(5, 6, 4)]),
    'concatenate': (lambda x, y: mg.concatenate([y, x, y], axis=1),
                    [randn(5, 6, 4), randn(5, 6, 4)]),
    'split': (lambda x: mg.split(x, 2)[0], [randn(10)]),
    'transpose': (lambda x: x.T, [randn(8, 8)]),
    'clip': (lambda x: mg.clip(x, 0.1, 1.1),
             [np.array([-0.5, 0.3, 0.7, 1.5, 2.0])]),
    'prod': (mg.prod, [randn(2, 3) ** 2 / 10 + 0.1]),
    'prod axis': (lambda x: mg.prod(x, axis=0), [randn(2, 3) ** 2 + 0.1]),
    'prod keepdims': (lambda x: mg.prod(x, axis=0, keepdims=True),
                      [randn(2, 3) ** 2 + 0.1]),
    'prod with zeros': (mg.prod, [np.array([0.0, 2.0, 3.0])]),
    'var ddof': (lambda x: mg.var(x, ddof=1), [randn(3, 4)]),
    'var axis ddof 2': (lambda x: mg.var(x, axis=1, ddof=2, keepdims=True),
                        [randn(3, 4)]),
    'std ddof': (lambda x: mg.std(x, ddof=1), [randn(1, 3)]),
    'std axis ddof 2': (lambda x: mg.std(x, axis=1, ddof=2), [randn(3, 4)]),
    'where': (lambda x, y: mg.where(np.arange(20).reshape(4, 5) % 3 == 0,
                                    x, y), [randn(4, 5), randn(4, 5)]),
    'squeeze': (mg.squeeze, [randn(5, 1, 4)]),
    'expand_dims': (lambda x: mg.expand_dims(x, 2), [randn(5, 1, 4)]),
    'tensordot': (lambda x: mg.tensordot(x * np.ones((2, 2)),
                                         x * np.ones((2, 2)), 2), [randn()]),
    # linear algebra
    'inv': (mg.linalg.inv, [randn(8, 8) @ randn(8, 8) * 0.1 + 3 * np.eye(8)]),
    'inv batched': (mg.linalg.inv, [randn(4, 4, 4) + 5 * np.eye(4)]),
    'solve a': (lambda a: mg.linalg.solve(a, np.ones((8, 7))),
                [randn(8, 8) + 10 * np.eye(8)]),
    'solve a, b 1-d': (lambda a: mg.linalg.solve(a, np.arange(8.0)),
                       [randn(8, 8) + 10 * np.eye(8)]),
    'solve b': (lambda b: mg.linalg.solve(A6, b),
                [randn(6, 5)]),
    'solve batched': (mg.linalg.solve, [randn(5, 4, 4) + 5 * np.eye(4),
                                        randn(5, 4, 6)]),
    'det': (mg.linalg.det, [randn(6, 6)]),
    'det batched': (mg.linalg.det, [randn(3, 3, 3)]),
    'slogdet': (lambda a: mg.linalg.slogdet(a)[1], [randn(6, 6)]),
    'slogdet negated': (lambda a: mg.linalg.slogdet(-a)[1], [randn(6, 6)]),
    'slogdet batched': (lambda a: mg.sum(mg.linalg.slogdet(a)[1]),
                        [positive_definite(5, (3,))]),
    'vector 2-norm': (mg.linalg.norm, [randn(6)]),
    'Frobenius norm': (mg.linalg.norm, [randn(6, 5)]),
    'Frobenius norm axes': (lambda x: mg.linalg.norm(x, axis=(0, 1)),
                            [randn(6, 5, 4)]),
    'norm axis 0': (lambda x: mg.linalg.norm(x, axis=0), [randn(6, 5, 4)]),
    'norm axis 2': (lambda x: mg.linalg.norm(x, axis=2), [randn(6, 5, 4)]),
    'cholesky': (lambda a: mg.linalg.cholesky(sym(a)), [positive_definite(6)]),
    'cholesky batched': (lambda a: mg.linalg.cholesky(sym(a)),
                         [positive_definite(6, (3,))]),
    'cholesky reparameterisation': (
        lambda a: mg.linalg.norm(mg.linalg.cholesky(sym(a)) @ Z6),
        [positive_definite(6)]),
    'batched einsum with ...': (
        lambda x: mg.einsum('...ij,...kj->...ik', x, x), [randn(2, 3, 4, 4)]),
}

MISSING = ['flipud', 'fliplr', 'rot90', 'trace', 'diag', 'diagonal', 'roll',
           'triu', 'tril', 'repeat', 'append', 'ravel', 'nan_to_num',
           'make_diagonal', 'eigh', 'svd']


@pytest.mark.parametrize('name', CASES)
def test_gradient(name):
    f, inputs = CASES[name]
    assert mg.gradcheck(f, *inputs)


@pytest.mark.parametrize('name', MISSING)
def test_missing_ops_are_missing(name):
    """The functions of those tests that micrograd does not have yet."""
    assert not hasattr(mg, name) and not hasattr(mg.linalg, name)
