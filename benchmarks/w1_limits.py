"""How far W1 is from this machine's limits: the FLOPs of a step against
the measured throughput of one large sgemm, and the bytes a step must read
against the measured memory bandwidth.

    python benchmarks/w1_limits.py              # 1.5M rows, as W1
    python benchmarks/w1_limits.py --quick

A W1 step (rows N, features 100, hidden 32, quantiles 9) does two N x 100
x 32 products (X @ W1 forward, X.T @ dH backward), three N x 32 x 9 ones
(H @ W2, dP @ W2.T, H.T @ dP) and elementwise work; it must read X (N x
100 float32) at least twice, once per big product.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def best(f, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rows', type=int, default=1_500_000)
    p.add_argument('--quick', action='store_true')
    args = p.parse_args(argv)
    rows, n = (20_000, 1000) if args.quick else (args.rows, 4000)
    repeats = 1 if args.quick else 3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    sgemm = 2 * n ** 3 / best(lambda: a @ b, repeats)
    X = rng.standard_normal((rows, 100), dtype=np.float32)
    W1 = rng.standard_normal((100, 32), dtype=np.float32)
    dH = rng.standard_normal((rows, 32), dtype=np.float32)
    read = X.nbytes / best(lambda: X.sum(axis=0), repeats)
    forward = best(lambda: X @ W1, repeats)
    backward = best(lambda: X.T @ dH, repeats)
    flops = 2 * rows * 100 * 32 * 2 + 2 * rows * 32 * 9 * 3
    bytes_read = 2 * X.nbytes
    print(f'load average {os.getloadavg()[0]:.2f}')
    print(f'sgemm {n}^3: {sgemm / 1e9:.0f} GFLOPS; reading X: '
          f'{read / 1e9:.1f} GB/s')
    print(f'X @ W1: {forward * 1e3:.0f} ms '
          f'({2 * rows * 100 * 32 / forward / 1e9:.0f} GFLOPS); '
          f'X.T @ dH: {backward * 1e3:.0f} ms '
          f'({2 * rows * 100 * 32 / backward / 1e9:.0f} GFLOPS)')
    print(f'a step: {flops / 1e9:.1f} GFLOP, at least {bytes_read / 1e9:.2f} '
          f'GB read: floor {flops / sgemm * 1e3:.0f} ms at the sgemm rate, '
          f'{bytes_read / read * 1e3:.0f} ms at the read rate')


if __name__ == '__main__':
    main()
