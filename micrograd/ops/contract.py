"""Contractions: matmul, tensordot, einsum."""
from __future__ import annotations

import builtins

from ..backend import parse_einsum
from ..engine import Op, Value, apply
from .common import _values, public
from .shape import broadcast_to


# matmul: Z = X @ Y (NumPy rules: 1-D operands, broadcast batches);
# dL/dX = G @ Y^T, dL/dY = X^T @ G
def matmul_forward(xp, x, y):
    return x @ y


def matmul_backward(xp, g, out, x, y, need):
    vec_x, vec_y = x.ndim == 1, y.ndim == 1
    if vec_y:                             # (k,) acts as a (k, 1) matrix
        y, g = xp.expand_dims(y, axis=-1), xp.expand_dims(g, axis=-1)
    if vec_x:                             # (k,) acts as a (1, k) matrix
        x, g = xp.expand_dims(x, axis=0), xp.expand_dims(g, axis=-2)
    gx = g @ xp.matrix_transpose(y) if need[0] else None
    gy = xp.matrix_transpose(x) @ g if need[1] else None
    if vec_x and need[0]:
        gx = xp.squeeze(gx, axis=-2)
    if vec_y and need[1]:
        gy = xp.squeeze(gy, axis=-1)
    return gx, gy


def _rows_times_weights(node, rows):
    """Rows of a matrix times weights: each output row from one input row."""
    return rows == (True, False) and node.parents[0].ndim == 2


MATMUL = Op('matmul', matmul_forward, matmul_backward,
             kind='contract', linear=True, keeps_rows=_rows_times_weights)


@public
def matmul(x, y) -> Value:
    """x @ y with NumPy's matmul rules (batches broadcast)."""
    x, y = _values(x, y)
    k_y = y.shape[-2] if y.ndim > 1 else y.shape[0] if y.ndim else None
    if x.ndim == 0 or y.ndim == 0 or x.shape[-1] != k_y:
        raise ValueError(f'matmul: shapes {x.shape} and {y.shape} do not align')
    return apply(MATMUL, x, y)


# tensordot: contracts x's last n axes, from the last, with y's first n axes:
# Z[a.., b..] = sum_k X[a.., k_n..k_1] Y[k_1..k_n, b..];
# dL/dX = G . Y over the b axes, dL/dY = X . G over the a axes
def tensordot_forward(xp, x, y, n):
    return xp.tensordot(x, y, axes=(_last_axes(x.ndim, n), tuple(range(n))))


def tensordot_backward(xp, g, out, x, y, n, need):
    fx, fy = x.ndim - n, y.ndim - n       # free axes of x and of y
    gx = gy = None
    if need[0]:                           # axes: x free, then y's 0..n-1
        gx = xp.tensordot(g, y, axes=(tuple(range(fx, fx + fy)),
                                      tuple(range(n, n + fy))))
        gx = xp.permute_dims(gx, tuple(range(fx)) +
                             tuple(range(fx + n - 1, fx - 1, -1)))
    if need[1]:                           # axes: x's contracted, then y free
        gy = xp.tensordot(x, g, axes=(tuple(range(fx)), tuple(range(fx))))
        gy = xp.permute_dims(gy, tuple(range(n - 1, -1, -1)) +
                             tuple(range(n, n + fy)))
    return gx, gy


def _last_axes(ndim, n):
    return tuple(range(ndim - 1, ndim - 1 - n, -1))


TENSORDOT = Op('tensordot', tensordot_forward, tensordot_backward,
                kind='contract', linear=True)


@public
def tensordot(x, y, axes=1) -> Value:
    """Contract x's last axis with y's first, x's next-to-last with y's
    second, ... `axes` pairs in all (the original micrograd's convention)."""
    x, y, n = *_values(x, y), axes
    if not isinstance(n, int):
        raise TypeError(f'tensordot: axes must be an int, got {n!r}')
    sx = [x.shape[a] for a in _last_axes(x.ndim, n)]
    if n < 0 or n > builtins.min(x.ndim, y.ndim) or sx != list(y.shape[:n]):
        raise ValueError(f'tensordot: shapes {x.shape} and {y.shape} do not '
                         f'align for n={n}')
    return apply(TENSORDOT, x, y, n=n)


# einsum: Z = sum over the indices missing from the output of the product;
# dL/dX_i = einsum of G with the other operands, onto X_i's indices
def einsum_forward(xp, *operands, inputs, output):
    return xp.einsum(','.join(inputs) + '->' + output, *operands)


def einsum_backward(xp, g, out, *operands, inputs, output, need):
    grads = []
    for i, (sub, x) in enumerate(zip(inputs, operands)):
        others = inputs[:i] + inputs[i + 1:]
        # indices only x has are summed in the forward: broadcast back
        kept = ''.join(c for c in sub if c in output + ''.join(others))
        if need[i]:
            gi = xp.einsum(','.join((output,) + others) + '->' + kept,
                           g, *operands[:i], *operands[i + 1:])
            gi = xp.reshape(gi, tuple(n if c in kept else 1
                                      for c, n in zip(sub, x.shape)))
        grads.append(gi if need[i] else None)
    return grads


EINSUM = Op('einsum', einsum_forward, einsum_backward,
             kind='contract', linear=True)


@public
def einsum(subscripts: str, *operands) -> Value:
    """Einstein summation, e.g. einsum('bij,jk->bik', x, w); each operand's
    indices are distinct. `...` stands for the axes not named, broadcast
    across operands as NumPy does ('...ij,...jk->...ik')."""
    subscripts, operands = _spell_out_ellipsis(subscripts, operands)
    inputs, output = parse_einsum(subscripts, len(operands))
    return apply(EINSUM, *operands, inputs=tuple(inputs), output=output)


def _spell_out_ellipsis(subscripts: str, operands):
    """'...ij,jk' with a (5, 1, 2, 3) and a (3, 4) operand -> 'ABij,jk->ABik':
    each `...` becomes letters of its own (the last ones for an operand with
    fewer such axes, as broadcasting aligns them), and an operand whose
    `...` axes are of size 1 where another's are not is broadcast first
    (broadcast_to: its gradient is summed back)."""
    spec = subscripts.replace(' ', '')
    lhs, arrow, rhs = spec.partition('->')
    inputs = lhs.split(',')
    if '...' not in spec or len(inputs) != len(operands):
        return subscripts, operands     # parse_einsum says what is wrong
    operands = _values(*operands)
    for sub in inputs + [rhs]:
        if sub.count('...') > 1 or '.' in sub.replace('...', ''):
            raise ValueError(f"einsum: '{subscripts}': '...' at most once "
                             'per operand, and no other dots')
    spans = []                          # (start, axes) of each operand's ...
    for i, (sub, x) in enumerate(zip(inputs, operands)):
        named = len(sub.replace('...', ''))
        if x.ndim < named or ('...' not in sub and x.ndim != named):
            raise ValueError(f"einsum: operand {i} of shape {x.shape} does "
                             f"not fit '{sub}'")
        spans.append((sub.find('...'), x.ndim - named if '...' in sub else 0))
    width = builtins.max(k for _, k in spans)
    batch = [1] * width                 # the broadcast shape of the ... axes
    for (start, k), x in zip(spans, operands):
        for j, n in enumerate(x.shape[start:start + k] if k else ()):
            m = batch[width - k + j]
            if m != n and 1 not in (m, n):
                raise ValueError(f"einsum: '{subscripts}': the '...' axes of "
                                 f'shapes {[x.shape for x in operands]} do '
                                 'not broadcast')
            batch[width - k + j] = builtins.max(m, n)
    letters = ''.join(c for c in _LETTERS if c not in spec)[:width]
    if not arrow:                       # NumPy: ... first, then the letters
        joined = lhs.replace('...', '').replace(',', '')
        rhs = '...' + ''.join(sorted(c for c in set(joined)
                                     if joined.count(c) == 1))
    shaped = []
    for (start, k), sub, x in zip(spans, inputs, operands):
        target = x.shape[:start] + tuple(batch[width - k:]) + x.shape[start + k:]
        if k and target != x.shape:
            x = broadcast_to(x, target)
        shaped.append(x)
    spelled = [sub.replace('...', letters[width - k:])
               for sub, (_, k) in zip(inputs, spans)]
    return ','.join(spelled) + '->' + rhs.replace('...', letters), shaped


_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
