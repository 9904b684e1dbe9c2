"""micrograd.profile: a per-op time table of one forward and backward."""
import io

import numpy as np

import micrograd as mg
from micrograd import Value, nn


def test_profile_counts_each_op_and_restores_the_rules():
    model = nn.TensorMLP(4, [8, 3], rng=0)
    x = Value(shape=(None, 4), name='x', requires_grad=False)
    loss = model(x).relu().mean()
    rules = {name: (op.forward, op.backward) for name, op in mg.OPS.items()}
    out = io.StringIO()
    table = mg.profile(loss, file=out, x=np.ones((5, 4)))
    assert table['matmul']['forward'][0] == 2
    assert table['matmul']['backward'][0] == 2
    assert table['relu']['forward'][0] == 2 and table['mean']['backward'][0] == 1
    assert table['matmul']['forward'][2] == (5 * 8 + 5 * 3) * 8   # bytes out
    text = out.getvalue()
    assert text.splitlines()[0].split()[:3] == ['op', 'calls', 'forward']
    assert 'matmul' in text and 'walks' in text
    assert {name: (op.forward, op.backward)
            for name, op in mg.OPS.items()} == rules
    np.testing.assert_allclose(loss.data, mg.relu(
        model(Value(np.ones((5, 4))))).mean().data)


def test_a_compiled_root_is_profiled_on_its_compiled_code_and_stays_compiled():
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    w = Value(np.ones((3, 2)))
    loss = (x @ w).relu().mean()
    mg.compile(loss)
    plan = loss.executor
    out = io.StringIO()
    table = mg.profile(loss, file=out, x=np.ones((4, 3)))
    assert table['matmul']['forward'][0] == 1
    assert table['matmul']['backward'][0] == 1
    assert loss.executor is plan
    assert 'matmul_forward(xp, ' in mg.compiled_source(loss)
    np.testing.assert_allclose(w.grad, np.full((3, 2), 0.5))
    assert 'engine' in out.getvalue()


def test_the_shares_add_up_to_the_whole_step():
    model = nn.TensorMLP(4, [8, 3], rng=0)
    x = Value(shape=(None, 4), name='x', requires_grad=False)
    out = io.StringIO()
    mg.profile(model(x).relu().mean(), file=out, repeats=3,
               x=np.ones((50, 4)))
    shares = [float(line.split()[-1].rstrip('%'))
              for line in out.getvalue().splitlines()[1:-1]]
    assert out.getvalue().splitlines()[-2].startswith('engine')
    assert abs(sum(shares) - 100) < 0.5


def test_a_chunked_root_is_profiled_chunk_by_chunk():
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    w = Value(np.ones((3, 2)))
    loss = mg.chunked((x @ w).relu().mean(), rows=4, workers=2)
    plan = loss.executor
    table = mg.profile(loss, file=False, x=np.ones((16, 3)))
    assert table['matmul']['forward'][0] == 4       # one call a chunk
    assert table['matmul']['backward'][0] == 4
    assert loss.executor is plan
    np.testing.assert_allclose(w.grad, np.full((3, 2), 0.5))


SEEN = []


def twice_forward(xp, a):
    SEEN.append(mg.OPS['twice_profiled'].forward is twice_forward)
    return 2 * a


def twice_backward(xp, g, out, a, need):
    SEEN.append(mg.OPS['twice_profiled'].backward is twice_backward)
    return (2 * g,)


def test_the_op_records_are_never_changed_while_profiling():
    op = mg.Op('twice_profiled', twice_forward, twice_backward,
               kind='elementwise')
    try:
        x = Value(shape=(None, 3), name='x', requires_grad=False)
        w = Value(np.ones(3))
        loss = mg.apply(op, x * w).sum()
        table = mg.profile(loss, file=False, repeats=2, x=np.ones((2, 3)))
    finally:
        del mg.OPS['twice_profiled']
    assert table['twice_profiled']['forward'][0] == 1
    assert SEEN and all(SEEN)
    assert loss.topo()[-2].op is op
