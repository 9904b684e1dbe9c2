"""The demos: `python -m micrograd.demo quantile`, `... predict` and
`... moons`.

quantile: an MLP predicts the quantiles 0.1 .. 0.9 of a target, trained with
the pinball loss and AdamW in float32, on a built-in heteroscedastic data
set (or your own numeric CSV or Parquet dataset), on this machine or on a
Dask cluster (`--dask`). A validation split of the training rows is
evaluated every few steps; the parameters with the lowest validation loss
are kept (early stopping). It prints, on held-out rows, each quantile's
pinball loss and coverage (the share of targets below the predicted
quantile, which should be close to the quantile), saves a PNG of the
quantile bands (with matplotlib) and the model (.npz: the weights and what
prediction needs).

predict: the quantiles of each row of a CSV, from a saved model.

moons: the original demo, a 2-16-16-1 MLP separating two moons with the
hinge loss and SGD; saves the decision boundary as a PNG.

Bad input is reported in one line on stderr, with exit status 2; Ctrl-C
stops training after the current step (exit status 130).
"""
from __future__ import annotations

import argparse
import codecs
import math
import re
import sys

from .files import DemoError, read_csv
from .moons import make_moons, moons_demo
from .quantile import QUANTILES, predict_demo, quantile_demo, synthetic

__all__ = ['main', 'parser', 'DemoError', 'QUANTILES', 'synthetic',
           'make_moons', 'read_csv']


# ---------------------------------------------------------------- arguments

def whole(minimum: int):
    """An argparse type: a whole number >= minimum ('1e6' is accepted)."""
    def parse(text: str) -> int:
        try:
            value = float(text)
            if not value.is_integer():
                raise ValueError
            value = int(text) if text.strip().lstrip('+-').isdigit() \
                else int(value)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(
                f'must be a whole number, got {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f'must be at least {minimum}, got {text!r}')
        return value
    return parse


def number(low: float, high: float = math.inf, low_ok: bool = False):
    """An argparse type: a finite number in (low, high] ([low, high] when
    low_ok)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        inside = (value >= low if low_ok else value > low) and value <= high
        if not math.isfinite(value) or not inside:
            where = f'{"at least" if low_ok else "above"} {low:g}' + (
                f' and at most {high:g}' if math.isfinite(high) else '')
            raise argparse.ArgumentTypeError(
                f'must be a finite number {where}, got {text!r}')
        return value
    return parse


def encoding(text: str) -> str:
    """An argparse type: a text encoding Python knows."""
    try:
        return codecs.lookup(text).name
    except LookupError:
        raise argparse.ArgumentTypeError(
            f'unknown encoding {text!r} (e.g. utf-8, latin-1, cp1252)') from None


class Parser(argparse.ArgumentParser):
    """argparse, with errors raised as one-line DemoErrors."""

    def error(self, message):
        message = re.sub(r'^argument ([^:]+): ', r'\1 ', message)
        raise DemoError(f'{self.prog.replace("python -m ", "")}: {message}')


def parser() -> argparse.ArgumentParser:
    p = Parser(prog='python -m micrograd.demo',
               description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='demo', required=True)
    q = sub.add_parser('quantile', help='quantile regression (the main demo)')
    q.add_argument('--rows', type=whole(2), default=100_000,
                   help='synthetic rows (1,500,000 x 100 float32 = 600 MB)')
    q.add_argument('--features', type=whole(1), default=100)
    q.add_argument('--csv', help='train on this numeric CSV (with a header)')
    q.add_argument('--parquet', help='train on this Parquet dataset (a file '
                   'or a folder of files; numeric columns)')
    q.add_argument('--target', help='the CSV or Parquet column to predict')
    q.add_argument('--encoding', type=encoding, default='utf-8',
                   help='of the CSV (default utf-8)')
    q.add_argument('--steps', type=whole(1), default=300,
                   help='at most this many steps')
    q.add_argument('--batch-size', type=whole(0), default=0,
                   help='rows per step (default: all, full batch)')
    q.add_argument('--hidden', type=whole(1), default=32)
    q.add_argument('--lr', type=number(0), default=0.01)
    q.add_argument('--weight-decay', type=number(0, low_ok=True), default=0.0,
                   help='AdamW decoupled weight decay (default 0)')
    q.add_argument('--validation', type=number(0, 0.5, low_ok=True),
                   default=0.2, help='share of the training rows held out '
                   'for early stopping (default 0.2; 0: none)')
    q.add_argument('--validate-every', type=whole(1), default=10,
                   help='steps between validation losses (default 10)')
    q.add_argument('--patience', type=whole(0), default=10,
                   help='stop after this many validations without '
                   'improvement (default 10; 0: never stop early)')
    q.add_argument('--dtype', default='float32',
                   choices=['float32', 'float64'])
    q.add_argument('--seed', type=whole(0), default=0)
    q.add_argument('--out', default='out', help='folder for the model and '
                   'the plot (default out)')
    q.add_argument('--dask', metavar='ADDRESS', help='train on a Dask '
                   'cluster: local:N (N local worker processes) or the '
                   "scheduler's address, tcp://host:8786")
    q.add_argument('--profile', action='store_true',
                   help='print a per-op time table after training')
    r = sub.add_parser('predict', help='quantiles for new rows, from a model '
                       'saved by quantile')
    r.add_argument('--model', required=True, help='quantile_model.npz')
    r.add_argument('--csv', required=True, help='rows with the same feature '
                   'columns (by name; the target column may be there)')
    r.add_argument('--out', required=True, help='the CSV to write: one '
                   'column per quantile')
    r.add_argument('--encoding', type=encoding, default='utf-8')
    m = sub.add_parser('moons', help='two moons, the original demo')
    m.add_argument('--steps', type=whole(1), default=200)
    m.add_argument('--lr', type=number(0), default=0.5)
    m.add_argument('--seed', type=whole(0), default=0)
    m.add_argument('--out', default='out')
    return p


def main(argv=None) -> int:
    """Run a demo; returns the exit status (0; 2 for bad input; 130 after
    Ctrl-C). Errors are one line on stderr, never a traceback."""
    try:
        args = parser().parse_args(argv)
        if args.demo == 'moons':
            return moons_demo(args)
        if args.demo == 'predict':
            return predict_demo(args)
        if args.csv and args.parquet:
            raise DemoError('give --csv or --parquet, not both')
        if (args.csv or args.parquet) and not args.target:
            raise DemoError(f'{"--csv" if args.csv else "--parquet"} needs '
                            '--target COLUMN')
        if args.target and not (args.csv or args.parquet):
            raise DemoError('--target needs --csv FILE or --parquet PATH')
        return quantile_demo(args)
    except DemoError as exc:
        print(f'micrograd.demo: error: {exc}', file=sys.stderr)
        return 2
    except MemoryError:
        print('micrograd.demo: error: out of memory; try fewer --rows',
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('micrograd.demo: interrupted', file=sys.stderr)
        return 130
