"""Loops (`small_mm`, `column_mm`) against BLAS (`mm`) for the matrix
products of a fused step, timed inside Numba (no Python call between
products).

    python benchmarks/small_matmul.py [--dtype float32]

For each (m, k, n) and operand layout as fused_step passes them (`x @ w`,
`g @ w.T`, `x.T @ g`: views to BLAS, C-ordered copies to the loops, the
copy timed with them), prints microseconds per product of each, their
ratio, and which one `micrograd.fuse` picks for that shape.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from micrograd import fuse  # noqa: E402

SHAPES = [(100, 2, 16), (100, 16, 16), (100, 16, 1), (100, 1, 16),
          (16, 100, 1), (16, 100, 16), (2, 100, 16), (100, 4, 16),
          (4, 100, 16), (100, 2, 64), (2, 100, 64), (1000, 2, 16),
          (16, 16, 16), (10, 10, 10)]


def repeat(product, copy):
    """A compiled loop of `product` calls (on C-ordered copies if `copy`)."""
    numba = fuse._numba()

    @numba.njit(nogil=True)
    def run(a, b, times):
        total = 0.0
        for _ in range(times):
            if copy:
                c = product(np.ascontiguousarray(a), np.ascontiguousarray(b))
            else:
                c = product(a, b)
            total += c[0, 0]
        return total
    return run


def operands(form, m, k, n, dtype, rng):
    def array(*shape):
        return rng.standard_normal(shape).astype(dtype)
    if form == 'x @ w':
        return array(m, k), array(k, n)
    if form == 'g @ w.T':
        return array(m, k), array(n, k).T
    return array(k, m).T, array(k, n)                   # x.T @ g


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--dtype', choices=['float32', 'float64'],
                   default='float64')
    p.add_argument('--times', type=int, default=5000)
    args = p.parse_args(argv)
    runs = {name: repeat(fuse.load_kernel(fuse.MM_SOURCE, name, args.dtype),
                         name != 'mm')
            for name in ('mm', 'small_mm', 'column_mm')}
    rng = np.random.default_rng(0)
    print(f'  {"m x k x n":<16}{"form":<10}{"BLAS us":>9}{"loops us":>10}'
          f'{"ratio":>7}  picked')
    for m, k, n in SHAPES:
        picked = fuse._product(m, k, n)
        for form in ('x @ w', 'g @ w.T', 'x.T @ g'):
            a, b = operands(form, m, k, n, args.dtype, rng)
            loops = 'column_mm' if n == 1 else 'small_mm'
            best = {}
            for _ in range(5):
                for name in ('mm', loops):
                    run = runs[name]
                    run(a, b, 10)
                    start = time.perf_counter()
                    run(a, b, args.times)
                    seconds = (time.perf_counter() - start) / args.times
                    best[name] = min(best.get(name, 1.0), seconds)
            print(f'  {f"{m} x {k} x {n}":<16}{form:<10}'
                  f'{best["mm"] * 1e6:>9.2f}{best[loops] * 1e6:>10.2f}'
                  f'{best[loops] / best["mm"]:>7.2f}  {picked}')


if __name__ == '__main__':
    main()
