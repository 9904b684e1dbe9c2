"""argmax/argmin, accuracy, and the per-quantile pinball loss and coverage."""
import numpy as np
import pytest

from micrograd import Value, losses, metrics, one_hot


def test_argmax_argmin_accuracy():
    scores = Value(np.array([[0.1, 2.0, -1.0], [3.0, 3.0, 0.0],
                             [0.0, -1.0, 5.0]]))
    np.testing.assert_array_equal(metrics.argmax(scores), [1, 0, 2])
    np.testing.assert_array_equal(metrics.argmin(scores.data, axis=0),
                                  [2, 2, 0])
    assert metrics.accuracy(scores, np.array([1, 1, 2])) == pytest.approx(2 / 3)
    assert metrics.one_hot is one_hot
    with pytest.raises(ValueError, match=r'accuracy: scores must be \(N, C\)'):
        metrics.accuracy(scores, np.array([1, 2]))


def test_pinball_loss_and_coverage_per_quantile():
    rng = np.random.default_rng(0)
    quantiles = [0.1, 0.5, 0.9]
    y = rng.standard_normal(2000)
    pred = np.tile(np.quantile(y, quantiles), (2000, 1))
    per_q = metrics.pinball_loss(Value(pred), y, quantiles)
    assert per_q.shape == (3,)
    whole = losses.pinball(Value(pred), Value(y), quantiles)
    np.testing.assert_allclose(per_q.mean(), whole.data, rtol=1e-12)
    np.testing.assert_allclose(metrics.coverage(pred, y), quantiles, atol=2e-3)
    with pytest.raises(ValueError, match='pinball_loss: 2 quantiles'):
        metrics.pinball_loss(pred, y, [0.1, 0.9])
    with pytest.raises(ValueError, match=r'coverage: pred must be \(N, Q\)'):
        metrics.coverage(pred, y[:5])
