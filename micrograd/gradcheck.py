"""Check a function's backward pass against central differences, in float64.

    from micrograd import gradcheck, tanh
    gradcheck(lambda x, w: tanh(x @ w), x_array, w_array)

The output is projected on a random upstream gradient `u` (so every output
element matters), and each input's gradient is compared with
(f(x + eps e) - f(x - eps e)) . u / 2 eps: element by element for small
inputs, along random directions for large ones.

Before that, every rule of f's graph is called once on copies of its
arguments: a rule that writes into its upstream gradient `g`, its output
`out` or its inputs is named (such a rule breaks the gradients of every
other rule that reads the same array, whatever the differences say).
The inputs may be arrays or Values of any backend: `f` runs on that backend
(the first input's that is not NumPy's), the differences are taken on the
host, in NumPy (`to_host`).
"""
from __future__ import annotations

import numpy as np

from .backend import NUMPY, backend_of, to_host
from .engine import Value


class GradcheckError(AssertionError):
    """The backward pass and the finite differences disagree."""


def gradcheck(f, *inputs, eps: float = 1e-6, atol: float = 1e-6,
              rtol: float = 1e-4, max_elements: int = 64,
              projections: int = 8, seed: int = 0, order: int = 1) -> bool:
    """Compare f's gradients with central differences; raise a
    GradcheckError naming the worst element, or return True.

    `f` takes one Value per input and returns a Value. Inputs with more
    than `max_elements` elements are checked along `projections` random
    directions instead of element by element. `order=2` checks the second
    derivatives instead.
    """
    if order not in (1, 2):
        raise ValueError(f'gradcheck: order must be 1 or 2, got {order!r}')
    rng = np.random.default_rng(seed)
    bk = _backend(inputs)
    if order == 2:
        return gradcheck(_first_derivative(f, bk, inputs, rng), *inputs,
                         eps=eps, atol=atol, rtol=rtol,
                         max_elements=max_elements, projections=projections,
                         seed=seed)
    arrays = [np.array(to_host(x.data if isinstance(x, Value) else x),
                       dtype=np.float64) for x in inputs]
    values = [_value(bk, a) for a in arrays]
    out = f(*values)
    upstream = rng.standard_normal(out.shape)
    check_rules_do_not_write(out, rng)
    out.backward(bk.asarray(upstream))
    failures = []
    for i, (a, v) in enumerate(zip(arrays, values)):
        grad = (np.zeros(a.shape) if v.grad is None else  # not in f's graph
                np.asarray(to_host(v.grad), dtype=np.float64))
        if a.size <= max_elements:
            directions = [(_index(k, a.shape), _unit(a.shape, k))
                          for k in range(a.size)]
        else:
            directions = [(f'random direction {p}',
                           rng.standard_normal(a.shape))
                          for p in range(projections)]
        for where, d in directions:
            numeric = (_project(f, bk, arrays, i, a + eps * d, upstream) -
                       _project(f, bk, arrays, i, a - eps * d, upstream)
                       ) / (2 * eps)
            analytic = float(np.sum(grad * d))
            err = abs(numeric - analytic)
            if not err <= atol + rtol * abs(numeric):
                failures.append((err, i, a.shape, where, analytic, numeric))
    if failures:
        err, i, shape, where, analytic, numeric = max(failures, key=_badness)
        raise GradcheckError(
            f'gradcheck: {len(failures)} mismatch(es); worst: input {i} '
            f'(shape {shape}) at {where}: backward gives {analytic:.6g}, '
            f'central differences give {numeric:.6g} (abs error {err:.3g}, '
            f'allowed {atol:g} + {rtol:g} * |numeric|)')
    return True


def _backend(inputs):
    """The backend gradcheck runs f on: the first input's that is not
    NumPy's (NumPy when all are NumPy arrays, numbers or lists)."""
    for x in inputs:
        bk = x.bk if isinstance(x, Value) else backend_of(x)
        if bk is not NUMPY:
            return bk
    return NUMPY


def _value(bk, array, requires_grad=True):
    """A float64 Value of `bk` from a host array."""
    return Value(bk.asarray(array), dtype='float64',
                 requires_grad=requires_grad, backend=bk)


def _first_derivative(f, bk, inputs, rng):
    """x -> sum_i grad_i(x) . w_i, with grad_i the gradient of f(x) . u by
    backward(create_graph=True), for random u and w_i: a scalar function
    whose gradient holds f's second derivatives."""
    arrays = [to_host(x.data if isinstance(x, Value) else x) for x in inputs]
    u = rng.standard_normal(tuple(f(*[_value(bk, a, False)
                                      for a in arrays]).shape))
    u, ws = bk.asarray(u), [bk.asarray(rng.standard_normal(a.shape))
                            for a in arrays]

    def first_derivative(*values):
        values = [v if v.requires_grad else Value(v.data, dtype='float64')
                  for v in values]
        f(*values).backward(u, create_graph=True)
        total = _value(bk, 0.0, False)
        for v, w in zip(values, ws):
            if isinstance(v.grad, Value):
                total = total + (v.grad * w).sum()
            v.grad = None
        return total
    return first_derivative


def check_rules_do_not_write(root: Value, rng) -> None:
    """Call each backward rule of root's graph on copies of its arguments
    (a random upstream gradient g) and raise a GradcheckError naming the
    first rule that changed one of them."""
    for node in root.topo():
        op, bk = node.op, node.bk
        if (op is None or op.backward is None or not node.requires_grad
                or not bk.mutable):     # immutable arrays cannot be written
            continue
        out = to_host(node.data)
        args = {'its upstream gradient g':
                rng.standard_normal(node.shape).astype(out.dtype),
                'its output out': out,
                **{f'its input {k}': to_host(p.data)
                   for k, p in enumerate(node.parents)}}
        copies = {name: bk.asarray(np.array(a, copy=True))
                  for name, a in args.items()}
        try:
            op.backward(node.bk, copies['its upstream gradient g'],
                        copies['its output out'],
                        *[copies[f'its input {k}']
                          for k in range(len(node.parents))],
                        need=tuple(p.requires_grad for p in node.parents),
                        **node.meta)
        except Exception:   # the backward pass reports it, naming the op
            continue
        for name, before in args.items():
            if not np.array_equal(before, to_host(copies[name]),
                                  equal_nan=True):
                raise GradcheckError(
                    f"gradcheck: rule {op.backward.__name__} of op "
                    f"'{op.name}' wrote into {name} (shape "
                    f'{tuple(np.shape(before))}); a backward rule must '
                    'return new arrays and leave its arguments as they are')


def _index(k: int, shape: tuple) -> tuple:
    """Flat index k in `shape` as a tuple of Python ints: (2, 0)."""
    return tuple(int(i) for i in np.unravel_index(k, shape))


def _badness(failure):
    """Sort key: the error, NaN counting as the worst."""
    return failure[0] if failure[0] == failure[0] else np.inf


def _unit(shape, k):
    d = np.zeros(shape)
    d.flat[k] = 1.0
    return d


def _project(f, bk, arrays, i, replaced, upstream):
    """sum(f(inputs with input i replaced) * upstream), in float64."""
    args = [_value(bk, replaced if j == i else a, False)
            for j, a in enumerate(arrays)]
    return float(np.sum(to_host(f(*args).data) * upstream))
