"""The main demo: quantile regression with an MLP, and prediction with a
saved model."""
from __future__ import annotations

import functools
import os
import sys
import time

import numpy as np

from .. import nn
from ..chunked import chunked, keep_freed_memory
from ..data import batches
from ..engine import Value
from ..losses import pinball
from ..metrics import coverage, pinball_loss
from ..optim import AdamW
from ..profile import profile
from ..train import fit
from ..distributed import batches as distributed_batches, data_parallel
from .cluster import close, connect, parquet_rows
from .files import (DemoError, check_file, check_folder, load_model,
                    read_csv, read_header, read_parquet, save_model)
from .plots import plot_quantiles

QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
INTERRUPTED = 130                  # the exit status of a program stopped by Ctrl-C


def synthetic(rows: int, features: int, seed: int, dtype):
    """X ~ N(0, 1); y = X @ w + (1 + |X[:, 0]|) * t3 noise, w ~ N(0, 1) / 10:
    the noise, so the spread of the quantiles, grows with |X[:, 0]|."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features), dtype=np.float32).astype(dtype)
    w = rng.standard_normal(features) / 10
    noise = rng.standard_t(3, rows)
    y = X @ w.astype(dtype) + (1 + np.abs(X[:, 0])) * noise
    return X, y.astype(dtype), [f'x{i}' for i in range(features)]


def mean_and_scale(X, rows: int = 65536):
    """Column means and standard deviations (+ 1e-8), in float64, a block of
    rows at a time (no temporary as large as X)."""
    mean = X.mean(axis=0, dtype=np.float64)
    squares = np.zeros(X.shape[1:], dtype=np.float64)
    for start in range(0, len(X), rows):
        d = X[start:start + rows] - mean
        squares += (d * d).sum(axis=0)
    return mean, np.sqrt(squares / len(X)) + 1e-8


def predict_quantiles(model, Xs, y_mean, y_scale, rows: int = 65536):
    """The model's quantiles of standardised rows Xs, in the target's units
    (float64), and the share of rows whose quantiles crossed (a lower
    quantile above a higher one) before each row was sorted."""
    parts = [np.asarray(model(Value(Xs[a:a + rows], requires_grad=False)).data,
                        dtype=np.float64) for a in range(0, len(Xs), rows)]
    pred = np.concatenate(parts) * y_scale + y_mean
    crossed = float(np.mean(np.any(np.diff(pred, axis=1) < 0, axis=1)))
    pred.sort(axis=1)                              # monotone in the quantile
    return pred, crossed


def quantile_graph(features: int, hidden: int, seed: int, dtype: str):
    """The training graph and its model: the pinball loss of an MLP on
    placeholders x and y (a function, so that the workers of a cluster can
    build it too)."""
    model = nn.TensorMLP(features, [hidden, len(QUANTILES)], rng=seed,
                         dtype=dtype)
    x = Value(shape=(None, features), name='x', dtype=dtype,
              requires_grad=False)
    target = Value(shape=(None,), name='y', dtype=dtype, requires_grad=False)
    return pinball(model(x), target, QUANTILES), model


def quantile_demo(args) -> int:
    dtype = np.dtype(args.dtype)
    out = check_folder(args.out)
    model_path = check_file(os.path.join(out, 'quantile_model.npz'))
    plot_path = check_file(os.path.join(out, 'quantile_bands.png'))
    client = connect(args.dask) if args.dask else None
    try:
        return _quantile(args, dtype, model_path, plot_path, client)
    finally:
        if client is not None:
            close(client)


def _quantile(args, dtype, model_path, plot_path, client) -> int:
    rng = np.random.default_rng(args.seed)
    if args.parquet and client is not None:     # the fitted rows stay there
        names, train, n_fit, (Xv, yv), (Xh, yh), (mu, sd, ym, ys) = \
            parquet_rows(client, args.parquet, args.target, dtype,
                         args.validation, args.seed)
        yzv = ((yv - ym) / ys).astype(dtype)
        source = f'{args.parquet} (target {args.target})'
    else:
        if args.csv:
            X, y, names = read_csv(args.csv, args.target, dtype, args.encoding)
            source = f'{args.csv} (target {args.target})'
        elif args.parquet:
            X, y, names = read_parquet(args.parquet, args.target, dtype)
            source = f'{args.parquet} (target {args.target})'
        else:
            X, y, names = synthetic(args.rows, args.features, args.seed, dtype)
            source = f'synthetic, {args.rows:,} rows x {args.features} ' \
                'features'
        # rows: [fitted | validation | held-out test], in a seeded random order
        order = rng.permutation(len(X))
        X, y = X[order], y[order]
        cut = max(1, int(len(X) * 0.8))
        n_val = int(cut * args.validation)
        n_fit = cut - n_val
        if len(X) - cut < 1 or n_fit < 1 or (args.validation and n_val < 1):
            raise DemoError(f'too few rows ({len(X)}) to hold out a test set '
                            f'and a validation split of {args.validation}')
        # standardise with the fitted rows' statistics, in place
        mu, sd = mean_and_scale(X[:n_fit])
        ym, ys = float(y[:n_fit].mean()), float(y[:n_fit].std()) + 1e-8
        X -= mu.astype(dtype)
        X /= sd.astype(dtype)
        yz = ((y - ym) / ys).astype(dtype)
        train = {'x': X[:n_fit], 'y': yz[:n_fit]}
        Xv, yzv = X[n_fit:cut], yz[n_fit:cut]
        Xh, yh = X[cut:], y[cut:]
    n_val = len(Xv)

    features = len(names)
    build = functools.partial(quantile_graph, features, args.hidden,
                              args.seed, dtype.name)
    size = args.batch_size or n_fit
    if client is None:
        loss, model = build()
        chunked(loss)                                    # rows in chunks
        data = batches(train, batch_size=size, seed=rng, shuffle=size < n_fit)
        where = ''
    else:                     # forward and backward on the workers' rows
        loss, model = data_parallel(build, train, client)
        parts = len(loss.executor.parts)
        take = min(parts, max(1, round(size * parts / n_fit)))
        data = [{}] if take == parts else distributed_batches(
            loss, partitions=take, seed=args.seed)
        workers = len(client.scheduler_info()['workers'])
        where = (f'; on {workers} Dask workers, {parts} partitions' +
                 (f', {take} a step' if take < parts else ''))
    validation = None
    if n_val:          # the same parameters; fit runs it under no_grad:
        xv = Value(shape=(None, features), name='xv', dtype=dtype.name,
                   requires_grad=False)
        yv_ = Value(shape=(None,), name='yv', dtype=dtype.name,
                    requires_grad=False)
        validation = (chunked(pinball(model(xv), yv_, QUANTILES)),
                      {'xv': Xv, 'yv': yzv})
    optimiser = AdamW(wrt=model.parameters(), learning_rate=args.lr,
                      weight_decay=args.weight_decay)

    print(f'quantile regression: {source}; MLP {features}-{args.hidden}-'
          f'{len(QUANTILES)}, {dtype.name}, AdamW lr {args.lr} weight decay '
          f'{args.weight_decay}, up to {args.steps} steps, batch {size:,}; '
          f'rows: {n_fit:,} fitted, {n_val:,} validation, '
          f'{len(Xh):,} held out{where}', flush=True)
    start = time.perf_counter()
    # a diverging run is reported below; malloc keeps the chunks' memory
    with np.errstate(all='ignore'), keep_freed_memory():
        history = fit(loss, optimiser, data, steps=args.steps,
                      validation=validation,
                      validate_every=args.validate_every,
                      patience=args.patience or None, on_interrupt='stop')
    seconds = time.perf_counter() - start
    print(f'trained {history.steps} steps in {seconds:.1f} s '
          f'({seconds / max(history.steps, 1) * 1e3:.1f} ms per step); '
          + _outcome(history))
    with np.errstate(all='ignore'):
        pred, crossed = predict_quantiles(model, Xh, ym, ys)
    if not np.isfinite(pred).all() or not history.val_loss and \
            history.stopped == 'loss not finite':
        raise DemoError(f'training diverged (the loss is not finite at step '
                        f'{history.steps}; try a smaller --lr); {model_path} '
                        'was not written')

    # held-out table, in the target's own units
    truth = yh.astype(np.float64)
    print(f'\nheld-out rows: {len(truth):,} (rows whose raw quantiles '
          f'crossed: {crossed:.1%}; each row is sorted)')
    print(f"{'quantile':>9}{'pinball loss':>14}{'coverage':>10}")
    for q, loss_q, covered in zip(QUANTILES,
                                  pinball_loss(pred, truth, QUANTILES),
                                  coverage(pred, truth)):
        print(f'{q:>9.1f}{loss_q:>14.4f}{covered:>10.3f}')

    save_model(model_path, model, features=names, target=args.target or 'y',
               quantiles=QUANTILES, hidden=args.hidden, x_mean=mu, x_scale=sd,
               y_mean=ym, y_scale=ys)
    print(f'\nmodel saved to {model_path} (predict with: python -m '
          f'micrograd.demo predict --model {model_path} --csv NEW.csv --out '
          'predictions.csv)')
    plot_quantiles(plot_path, Xh[:, 0] * sd[0] + mu[0], truth, pred,
                   names[0], QUANTILES)
    if args.profile:
        print('\nper-op profile of one training step (interpreted, one '
              'chunk: the whole batch):')
        named = {n.name: n for n in loss.topo() if n.name}
        x, target = named['x'], named['y']
        if isinstance(train['x'], np.ndarray):
            xb, yb = train['x'][:size], train['y'][:size]
        else:                   # the fitted rows are on the cluster
            xb, yb = Xh[:size], ((yh[:size] - ym) / ys).astype(dtype)
        profile(pinball(model(x), target, QUANTILES), x=xb, y=yb)
    if history.stopped == 'interrupted':
        print(f'micrograd.demo: interrupted at step {history.steps}; saved '
              f'the parameters of step {history.best_step}', file=sys.stderr)
        return INTERRUPTED
    return 0


def _outcome(history) -> str:
    """What fit did, in words."""
    if history.stopped == 'loss not finite':
        how = f'the training loss became {history.loss[-1]} at step ' \
              f'{history.steps} (try a smaller --lr)'
    else:
        how = {'finished': 'ran every step', 'interrupted': 'interrupted',
               'early stop': 'stopped early: no better validation loss in '
                             f'the last {history.steps - history.best_step} '
                             'steps'}[history.stopped]
    if not history.val_loss:
        return how + f'; final training loss {history.loss[-1]:.4f} ' \
                     '(standardised units)' if history.loss else how
    return (f'{how}; kept the parameters of step {history.best_step}, whose '
            f'validation pinball loss {history.best_val:.4f} (standardised '
            'units) is the lowest')


def predict_demo(args) -> int:
    """One column per quantile for each row of a CSV, from a saved model."""
    out = check_file(args.out)
    model, meta = load_model(args.model)
    features, target = meta['features'], meta['target']
    header = read_header(args.csv, args.encoding)
    missing = [f for f in features if f not in header]
    unknown = [h for h in header if h not in features and h != target]
    if missing or unknown:
        problems = ([f'missing {", ".join(missing)}'] if missing else []) + \
            ([f'unknown {", ".join(unknown)}'] if unknown else [])
        raise DemoError(f"{args.csv}: the columns do not match the model's "
                        f'features ({"; ".join(problems)}); the model needs '
                        + ', '.join(features))
    dtype = model.parameters()[0].data.dtype
    X, _, _ = read_csv(args.csv, None, dtype, args.encoding, features=features)
    X -= meta['x_mean'].astype(dtype)
    X /= meta['x_scale'].astype(dtype)
    pred, crossed = predict_quantiles(model, X, float(meta['y_mean']),
                                      float(meta['y_scale']))
    np.savetxt(out, pred, delimiter=',', fmt='%.7g', comments='',
               header=','.join(f'q{q:g}' for q in meta['quantiles']))
    print(f'{len(pred):,} rows x {len(meta["quantiles"])} quantiles of '
          f'{target} written to {out}')
    return 0
