"""Linear algebra, as numpy.linalg: `solve`, `inv`, `det`, `slogdet`,
`cholesky`, `norm`, each with its gradient rule. Matrices are the last two
axes; leading axes are a batch (broadcast in `solve`), as in NumPy. The
rules call the backend's `xp.linalg` (the Array API linalg extension).

Reached as `micrograd.linalg` (`mg.linalg.solve(a, b)`)."""
from __future__ import annotations

from typing import NamedTuple

from .engine import Op, Value, apply
from .ops.common import _axes, _keep, _value, _values


def _batched(node, rows):
    """Rows (axis 0) stay apart where every batch input has a leading batch
    axis before its matrices."""
    return all(p.ndim > 2 for p, r in zip(node.parents, rows) if r)


def _square(name: str, a) -> Value:
    a = _value(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f'linalg.{name}: needs square matrices (..., n, n), '
                         f'got shape {a.shape}')
    return a


def _scalars_as_matrices(xp, s):
    """A batch of numbers (...,) as (..., 1, 1), to scale matrices."""
    return xp.reshape(s, tuple(s.shape) + (1, 1))


# solve: X = A^-1 B;  dL/dB = A^-T G, dL/dA = -(A^-T G) X^T
# (b of shape (n,) is a vector, as in NumPy 2; batches broadcast)
def solve_forward(xp, a, b):
    return xp.linalg.solve(a, b)


def solve_backward(xp, g, out, a, b, need):
    vector = b.ndim == 1
    if vector:                            # as (..., n, 1) matrices
        g, out = xp.expand_dims(g, axis=-1), xp.expand_dims(out, axis=-1)
    gb = xp.linalg.solve(xp.matrix_transpose(a), g)
    ga = -(gb @ xp.matrix_transpose(out)) if need[0] else None
    if vector and need[1]:
        gb = xp.squeeze(gb, axis=-1)
    return ga, (gb if need[1] else None)


SOLVE = Op('solve', solve_forward, solve_backward, keeps_rows=_batched)


def solve(a, b) -> Value:
    """x with a @ x = b; b is (n,) (a vector) or (..., n, k)."""
    a, b = _values(a, b)
    _square('solve', a)
    n = a.shape[-1]
    if b.ndim == 0 or (b.shape[0] if b.ndim == 1 else b.shape[-2]) != n:
        raise ValueError(f'linalg.solve: b of shape {b.shape} does not fit '
                         f'a of shape {a.shape} (needs (n,) or (..., n, k))')
    return apply(SOLVE, a, b)


# inv: Z = A^-1;  dL/dA = -Z^T G Z^T
def inv_forward(xp, a):
    return xp.linalg.inv(a)


def inv_backward(xp, g, out, a, need):
    zt = xp.matrix_transpose(out)
    return (-(zt @ g @ zt),)


INV = Op('inv', inv_forward, inv_backward, keeps_rows=_batched)


def inv(a) -> Value:
    """The inverse of each square matrix."""
    return apply(INV, _square('inv', a))


# det: z = det A;  dz/dA = z A^-T
def det_forward(xp, a):
    return xp.linalg.det(a)


def det_backward(xp, g, out, a, need):
    scale = _scalars_as_matrices(xp, g * out)
    return (scale * xp.matrix_transpose(xp.linalg.inv(a)),)


DET = Op('det', det_forward, det_backward, keeps_rows=_batched)


def det(a) -> Value:
    """The determinant of each square matrix (gradient: not where it is
    singular)."""
    return apply(DET, _square('det', a))


# slogdet: (s, z) with det A = s e**z;  dz/dA = A^-T  (s: no gradient)
def slogdet_forward(xp, a):
    return xp.linalg.slogdet(a).logabsdet


def slogdet_backward(xp, g, out, a, need):
    return (_scalars_as_matrices(xp, g) *
            xp.matrix_transpose(xp.linalg.inv(a)),)


SLOGDET = Op('slogdet', slogdet_forward, slogdet_backward,
              keeps_rows=_batched)


def slogdet_sign_forward(xp, a):
    return xp.linalg.slogdet(a).sign


SLOGDET_SIGN = Op('slogdet_sign', slogdet_sign_forward, keeps_rows=_batched)


class SlogdetResult(NamedTuple):
    sign: Value
    logabsdet: Value


def slogdet(a) -> SlogdetResult:
    """(sign, logabsdet) with det a = sign * exp(logabsdet), without
    overflow; the gradient flows through logabsdet."""
    a = _square('slogdet', a)
    return SlogdetResult(apply(SLOGDET_SIGN, a), apply(SLOGDET, a))


# cholesky: A = L L^T, L lower triangular (A symmetric positive definite);
# dL/dA = sym(L^-T Phi(L^T G) L^-1), Phi: the lower triangle, diagonal halved,
# sym(S) = (S + S^T) / 2: a symmetric gradient (A's two triangles together)
def cholesky_forward(xp, a):
    return xp.linalg.cholesky(a)


def cholesky_backward(xp, g, out, a, need):
    m = xp.matrix_transpose(out) @ g
    phi = xp.tril(m, k=-1) + 0.5 * (xp.tril(m) - xp.tril(m, k=-1))
    li = xp.linalg.inv(out)
    s = xp.matrix_transpose(li) @ phi @ li
    return (0.5 * (s + xp.matrix_transpose(s)),)


CHOLESKY = Op('cholesky', cholesky_forward, cholesky_backward,
               keeps_rows=_batched)


def cholesky(a) -> Value:
    """The lower triangular L with a = L @ L.T, for symmetric positive
    definite matrices (only a's lower triangle is read; the gradient is
    symmetric)."""
    return apply(CHOLESKY, _square('cholesky', a))


# norm: z = sqrt(sum_i x_i**2) over `axis` (the vector 2-norm; Frobenius
# over two axes);  dz/dx_i = x_i / z  (0 where z is 0)
def norm_forward(xp, x, axis, keepdims):
    return xp.linalg.vector_norm(x, axis=axis or None, keepdims=keepdims)


def norm_backward(xp, g, out, x, axis, keepdims, need):
    z = _keep(xp, out, x.shape, axis, keepdims)
    return (_keep(xp, g, x.shape, axis, keepdims) * x /
            xp.where(z == 0, 1.0, z),)


NORM = Op('norm', norm_forward, norm_backward, kind='reduce')


def norm(x, ord=None, axis=None, keepdims=False) -> Value:  # noqa: A002
    """The 2-norm of vectors (axis an int, or x 1-D), the Frobenius norm of
    matrices (axis a pair, or x 2-D), or of the flattened x (axis None);
    ord None, 2 (vectors) or 'fro' (matrices)."""
    x = _value(x)
    axes = _axes(axis, x.ndim, 'linalg.norm')
    if axis is not None and len(axes) not in (1, 2):
        raise ValueError(f'linalg.norm: axis {axis!r} names {len(axes)} '
                         'axes; give one (vectors) or two (matrices)')
    if ord not in (None, 2, 'fro') or (ord == 2 and len(axes) != 1) or (
            ord == 'fro' and len(axes) != 2):
        raise NotImplementedError(
            f'linalg.norm: ord={ord!r} over {len(axes)} axes of shape '
            f"{x.shape}; supported: None, 2 for vectors, 'fro' for matrices")
    return apply(NORM, x, axis=axes, keepdims=keepdims)
