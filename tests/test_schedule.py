"""The internals that carry weight: the compiled code's schedules (built once
as data, rendered for each kind of function) and chunked's row analysis,
which asks each node's Op record whether rows stay apart."""
import numpy as np
import pytest

import micrograd as mg
from micrograd import Value
from micrograd.chunked import _keeps_rows, batch_analysis
from micrograd.compile import (Accumulate, Apply, Feed, Fit, Free, RuleCall,
                               backward_schedule, forward_schedule)


def schedules(root):
    topo = root.topo()
    index = {id(n): i for i, n in enumerate(topo)}
    return topo, forward_schedule(topo, index), backward_schedule(topo, index)


def linear_loss():
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    w = Value(np.ones((3, 2)), name='w')
    b = Value(np.zeros(2), name='b')
    return x, w, b, ((x @ w) + b).sum()


def test_forward_schedule_feeds_named_leaves_and_applies_ops_in_order():
    x, w, b, loss = linear_loss()
    topo, forward, _ = schedules(loss)
    at = {id(n): i for i, n in enumerate(topo)}
    matmul, add = (at[id(n)] for n in (loss.parents[0].parents[0],
                                       loss.parents[0]))
    assert forward == [Feed(at[id(x)], 'x'), Feed(at[id(w)], 'w'),
                       Feed(at[id(b)], 'b'),
                       Apply(matmul, (at[id(x)], at[id(w)])),
                       Apply(add, (matmul, at[id(b)])),
                       Apply(at[id(loss)], (add,))]


def test_backward_schedule_calls_fits_adds_and_frees_from_the_root_back():
    x, w, b, loss = linear_loss()
    topo, _, backward = schedules(loss)
    at = {id(n): i for i, n in enumerate(topo)}
    root, add = at[id(loss)], at[id(loss.parents[0])]
    matmul = at[id(loss.parents[0].parents[0])]
    edge = {(i, pos): k for k, (i, pos) in enumerate(
        [(matmul, 1), (add, 0), (add, 1), (root, 0)])}
    assert backward.groups == [
        [RuleCall(root, (add,), (True,), False),
         Fit(0, edge[root, 0], add, True), Accumulate(0, add, True)],
        [RuleCall(add, (matmul, at[id(b)]), (True, True), False),
         Fit(0, edge[add, 0], matmul, False), Accumulate(0, matmul, True),
         Fit(1, edge[add, 1], at[id(b)], False),
         Accumulate(1, at[id(b)], True), Free(add)],
        [RuleCall(matmul, (at[id(x)], at[id(w)]), (False, True), False),
         Fit(1, edge[matmul, 1], at[id(w)], False),
         Accumulate(1, at[id(w)], True), Free(matmul)]]
    assert backward.leaves == [(at[id(w)], True), (at[id(b)], True)]


def test_a_symmetric_op_on_one_node_asks_once_and_adds_twice():
    w = Value(np.ones(3))
    loss = (w * w).sum()
    topo, _, backward = schedules(loss)
    square = backward.groups[1]
    assert square[0] == RuleCall(1, (0, 0), (True, False), True)
    assert [s for s in square if type(s) is Accumulate] == [
        Accumulate(0, 0, True), Accumulate(1, 0, False)]


def test_nodes_no_gradient_reaches_are_left_out_and_unreached_leaves_get_zeros():
    w = Value(np.ones(3))
    unused = Value(np.ones(3))
    frozen = Value(np.ones(3), requires_grad=False)
    loss = ((frozen * 2).exp() * w).sum() + 0 * unused.detach().sum()
    topo, _, backward = schedules(loss)
    called = {topo[g[0].node].op.name for g in backward.groups}
    assert 'exp' not in called and 'stop_gradient' not in called
    at = {id(n): i for i, n in enumerate(topo)}
    assert dict(backward.leaves) == {at[id(w)]: True, at[id(unused)]: False}
    mg.compile(loss)
    loss.forward()
    loss.backward()
    np.testing.assert_array_equal(unused.grad, np.zeros(3))


def test_the_schedule_follows_requires_grad():
    x, w, b, loss = linear_loss()
    mg.compile(loss)
    loss.forward(x=np.ones((4, 3)))
    loss.backward()
    before = loss.executor.backward_steps
    b.requires_grad = False
    loss.forward(x=np.ones((4, 3)))
    loss.backward()
    after = loss.executor.backward_steps
    assert len(after.leaves) == len(before.leaves) - 1 and b.grad is None
    np.testing.assert_allclose(w.grad, np.full((3, 2), 4.0))


def test_every_rendering_comes_from_the_one_schedule():
    """The generic code, the specialised backward and the chunk step call
    each rule the schedule says, in its order."""
    x, w, b, loss = linear_loss()
    mg.compile(loss)
    plan = loss.executor
    rules = [f'{loss.topo()[g[0].node].op.backward.__name__}('
             for g in plan.backward_steps.groups]
    loss.forward(x=np.ones((4, 3)))
    loss.backward()
    for source in ('\n'.join(plan._backward_source()),
                   '\n'.join(plan._step_source()), plan.specialised_source):
        where = [source.index(rule) for rule in rules]
        assert where == sorted(where)


# ---- chunked's row analysis ---------------------------------------------

def rows_of(node, *flags):
    batch = {id(p) for p, flag in zip(node.parents, flags) if flag}
    return _keeps_rows(node, batch)


def test_elementwise_keeps_rows_unless_a_non_batch_input_has_rows_too():
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    x.forward(x=np.ones((5, 3)))
    assert rows_of(x * Value(np.ones(3)), True, False)
    assert rows_of(x * Value(np.ones((1, 3))), True, False)
    assert not rows_of(x * Value(np.ones((5, 3))), True, False)


@pytest.mark.parametrize('axis,keeps', [(1, True), (0, False),
                                        ((0, 1), False)])
def test_reductions_and_along_axis_ops_keep_rows_off_axis_zero(axis, keeps):
    h = Value(np.ones((5, 3)))
    assert rows_of(h.sum(axis=axis), True) is keeps
    if axis in (0, 1):
        assert rows_of(mg.softmax(h, axis=axis), True) is keeps


def test_other_kinds_ask_the_records_keeps_rows():
    h = Value(np.ones((5, 3)))
    w = Value(np.ones((3, 2)))
    assert rows_of(h @ w, True, False)
    assert not rows_of(w.T @ h.T, False, True)
    assert rows_of(h.reshape(-1, 3, 1), True)
    assert not rows_of(h.reshape(5, 3, 1), True)      # a fixed batch size
    assert not rows_of(h.reshape(-1), True)
    assert not rows_of(h[:2], True)


def softplus_forward(xp, a):
    return xp.log1p(xp.exp(a))


def softplus_backward(xp, g, out, a, need):
    return (g / (1 + xp.exp(-a)),)


def scan_forward(xp, a):
    return xp.cumulative_sum(a, axis=1)


def scan_backward(xp, g, out, a, need):
    return (xp.flip(xp.cumulative_sum(xp.flip(g, axis=1), axis=1), axis=1),)


ASKED = []


def scan_keeps_rows(node, rows):
    ASKED.append(rows)
    return True


def test_a_user_op_is_analysed_by_its_record():
    softplus = mg.Op('softplus_rows_test', softplus_forward, softplus_backward,
                     kind='elementwise')
    opaque = mg.Op('opaque_rows_test', softplus_forward, softplus_backward)
    scan = mg.Op('scan_rows_test', scan_forward, scan_backward,
                 keeps_rows=scan_keeps_rows)
    try:
        x = Value(shape=(None, 3), name='x', requires_grad=False)
        w = Value(np.ones(3))
        names, kind, width = batch_analysis(mg.apply(softplus, x * w).mean())
        assert (names, kind, width) == (['x'], 'mean', 3 * 8)
        with pytest.raises(ValueError, match="'opaque_rows_test'"):
            batch_analysis(mg.apply(opaque, x * w).sum())
        assert batch_analysis(mg.apply(scan, x * w).sum())[:2] == (['x'],
                                                                   'sum')
        assert ASKED == [(True,)]
    finally:
        for name in ('softplus_rows_test', 'opaque_rows_test',
                     'scan_rows_test'):
            del mg.OPS[name]


def test_batch_analysis_measures_the_widest_batch_array():
    x = Value(shape=(None, 3), name='x', requires_grad=False, dtype='float32')
    w = Value(np.ones((3, 40)), dtype='float32')
    names, kind, width = batch_analysis(((x @ w).relu().sum(axis=1)).sum())
    assert (names, kind, width) == (['x'], 'sum', 40 * 4)
