"""gradcheck's reports: plain index tuples, and a rule that writes into its
arguments named as such (not blamed on the central differences)."""
import numpy as np
import pytest

import micrograd as mg
from micrograd.gradcheck import GradcheckError

pytestmark = pytest.mark.usefixtures('forget_user_ops')


def square_forward(xp, x):
    return x * x


def wrong_square_backward(xp, g, out, x, need):
    return (g * 3 * x,)


def test_indices_are_plain_tuples():
    wrong = mg.Op('wrong_square', square_forward, wrong_square_backward)
    x = np.array([[0.5, -1.5], [2.0, 1.0], [3.0, -0.5]])
    with pytest.raises(GradcheckError) as error:
        mg.gradcheck(lambda v: mg.apply(wrong, v), x)
    message = str(error.value)
    assert 'at (2, 0):' in message        # the largest error: x = 3
    assert 'np.int64' not in message


def test_a_0d_input_has_the_empty_index():
    wrong = mg.Op('wrong_square', square_forward, wrong_square_backward)
    with pytest.raises(GradcheckError, match=r'at \(\):'):
        mg.gradcheck(lambda v: mg.apply(wrong, v), np.array(2.0))


def scaling_g_in_place_backward(xp, g, out, x, need):
    g *= 2 * x
    return (g,)


def writing_input_backward(xp, g, out, x, need):
    x *= 2
    return (g * x,)


def writing_out_backward(xp, g, out, x, need):
    out[...] = 0
    return (2 * g * x,)


@pytest.mark.parametrize('rule, what', [
    (scaling_g_in_place_backward, 'its upstream gradient g'),
    (writing_input_backward, 'its input 0'),
    (writing_out_backward, 'its output out')])
def test_a_rule_that_writes_into_its_arguments_is_named(rule, what):
    op = mg.Op('square_in_place', square_forward, rule, kind='elementwise')
    x = np.array([[0.5, -1.5], [2.0, 1.0]])
    with pytest.raises(GradcheckError) as error:
        mg.gradcheck(lambda v: mg.apply(op, v) * 3.0, x)
    message = str(error.value)
    assert f'rule {rule.__name__} ' in message
    assert f"of op 'square_in_place' wrote into {what} " in message
    assert 'central differences' not in message


def test_a_rule_that_writes_is_named_on_torch_tensors():
    torch = pytest.importorskip('torch')
    op = mg.Op('square_in_place', square_forward, scaling_g_in_place_backward,
               kind='elementwise')
    x = torch.tensor([[0.5, -1.5], [2.0, 1.0]], dtype=torch.float64)
    with pytest.raises(GradcheckError, match='wrote into its upstream'):
        mg.gradcheck(lambda v: mg.apply(op, v) * 3.0, x)


def test_a_built_in_rule_that_writes_is_caught_too(monkeypatch):
    """Rules of micrograd's own ops are not guarded against writes by the
    engine (read-only views are for user ops); gradcheck still sees it."""
    from micrograd import OPS

    def tanh_backward(xp, g, out, x, need):
        g *= 1 - out * out
        return (g,)
    monkeypatch.setattr(OPS['tanh'], 'backward', tanh_backward)
    with pytest.raises(GradcheckError,
                       match='rule tanh_backward .*upstream gradient g'):
        mg.gradcheck(lambda v: (mg.tanh(v) * 2).sum(), np.ones(3))


def test_correct_rules_pass_and_are_called_on_copies():
    calls = []

    def square_backward(xp, g, out, x, need):
        calls.append((g, x))
        return (2 * g * x,)
    op = mg.Op('square_ok', square_forward, square_backward)
    x = np.array([0.5, -1.5])
    assert mg.gradcheck(lambda v: mg.apply(op, v), x)
    assert calls and not any(a is x for _, a in calls)
    assert np.array_equal(x, [0.5, -1.5])
