"""W2 or W3 for several frameworks in one process, interleaved.

    python benchmarks/interleave.py w2 micrograd numpy jax torch
    python benchmarks/interleave.py w3 micrograd micrograd_rebuild numpy torch
    python benchmarks/interleave.py w2 micrograd_fused jax --dtype float32

The overhead-bound workloads are sensitive to whatever else the machine is
doing, which shifts whole processes. Here every framework's step runs in the
same process, in turns of 300 steps, 7 turns each, and each gets the best
turn (`timeit`, so the garbage collector is off for all of them alike).
Prints microseconds per step (W2) or per op (W3), and each one's ratio to
the first framework named.
"""
from __future__ import annotations

import argparse
import os
import sys
import timeit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('workload', choices=['w2', 'w3'])
    p.add_argument('frameworks', nargs='+')
    p.add_argument('--turns', type=int, default=7)
    p.add_argument('--steps', type=int, default=300)
    p.add_argument('--dtype', choices=['float32', 'float64'],
                   default='float64', help="W2's data and parameters")
    args = p.parse_args(argv)
    workloads.W2_DTYPE[0] = args.dtype
    steps = {}
    for name in args.frameworks:
        make = getattr(workloads, f'{args.workload}_{name}', None)
        if make is None:
            sys.exit(f'no framework {name!r} for {args.workload}')
        steps[name] = make(args.steps)
        steps[name]()                                   # warm-up
    best = dict.fromkeys(steps, float('inf'))
    for _ in range(args.turns):
        for name, step in steps.items():
            seconds = timeit.timeit(step, number=args.steps) / args.steps
            best[name] = min(best[name], seconds)
    per = workloads.W3_OPS if args.workload == 'w3' else 1
    unit = 'us/op' if args.workload == 'w3' else 'us/step'
    first = best[args.frameworks[0]]
    print(f"  {'framework':<20}{unit:>10}{'x ' + args.frameworks[0]:>16}")
    for name, seconds in best.items():
        print(f'  {name:<20}{seconds * 1e6 / per:>10.3g}'
              f'{seconds / first:>16.2f}')


if __name__ == '__main__':
    main()
