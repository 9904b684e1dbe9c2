"""The demo's pictures (matplotlib, when installed): quantile bands and the
moons' decision boundary."""
from __future__ import annotations

import numpy as np

from ..engine import Value


def _pyplot():
    """matplotlib.pyplot drawing to files, or None (with a message)."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: no plot '
              '(pip install "micrograd[demo]")')
        return None
    return plt


def plot_quantiles(path, x0, truth, pred, name, quantiles):
    """Held-out targets around the predicted median, against the first
    feature, with the predicted quantile bands."""
    plt = _pyplot()
    if plt is None:
        return
    order = np.argsort(x0)
    median = pred[:, len(quantiles) // 2]
    show = order[:: max(1, len(order) // 4000)]
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.scatter(x0[show], (truth - median)[show], s=3, alpha=0.3, color='grey',
               label='held-out target - predicted median')
    for j in range(len(quantiles) // 2):
        lo, hi = pred[:, j] - median, pred[:, -1 - j] - median
        ax.fill_between(x0[order], _smooth(lo[order]), _smooth(hi[order]),
                        alpha=0.15, color='C0',
                        label=f'{quantiles[j]:.1f}-{quantiles[-1 - j]:.1f}')
    resid = truth - median
    ax.set_ylim(*np.percentile(resid, [0.5, 99.5]))
    ax.set_xlabel(name)
    ax.set_ylabel('target around the predicted median')
    ax.set_title('Predicted quantile bands (held-out rows)')
    ax.legend(loc='upper left', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f'plot saved to {path}')


def _smooth(values, width=101):
    """A running mean, for readable bands over a noisy feature axis."""
    width = max(1, min(width, len(values) // 10 or 1))
    kernel = np.ones(width)
    return (np.convolve(values, kernel, mode='same') /
            np.convolve(np.ones(len(values)), kernel, mode='same'))


def plot_moons(path, model, X, y):
    plt = _pyplot()
    if plt is None:
        return
    xx, yy = np.meshgrid(np.linspace(-2, 3, 200), np.linspace(-1.5, 2, 200))
    grid = Value(np.c_[xx.ravel(), yy.ravel()], requires_grad=False)
    zz = np.asarray(model(grid).data).reshape(xx.shape) > 0
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(xx, yy, zz, cmap='Spectral', alpha=0.8)
    ax.scatter(X[:, 0], X[:, 1], c=y, s=30, cmap='Spectral', edgecolors='k')
    ax.set_title('Decision boundary, MLP 2-16-16-1')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f'plot saved to {path}')
