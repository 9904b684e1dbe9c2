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


def test_a_compiled_root_is_profiled_on_the_interpreted_walk_and_stays_compiled():
    x = Value(shape=(None, 3), name='x', requires_grad=False)
    w = Value(np.ones((3, 2)))
    loss = (x @ w).relu().mean()
    mg.compile(loss)
    plan = loss._plan
    table = mg.profile(loss, file=False, x=np.ones((4, 3)))
    assert table['matmul']['forward'][0] == 1
    assert table['matmul']['backward'][0] == 1
    assert loss._plan is plan
    np.testing.assert_allclose(w.grad, np.full((3, 2), 0.5))
