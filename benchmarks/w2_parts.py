"""Where a fused W2 step goes: the generated `fused_step` alone (forward,
backward and the SGD update, inside Numba), its Python wrapper (`whole`:
the checks, the step's rate, the arrays for the loss and gradients, the
call), and the whole `optimiser.minimize(loss)` (the engine's `forward`
and the plan around them), timed in turns in one process.

    python benchmarks/w2_parts.py [--dtype float32] [--quick]

Prints microseconds per call of each, the best of the turns. The parts
are timed apart, so each difference is the cost of one layer.
"""
from __future__ import annotations

import argparse
import os
import sys
import timeit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads  # noqa: E402


def parts(dtype: str) -> dict:
    """The three callables of a warm fused W2 step."""
    workloads.W2_DTYPE[0] = dtype
    step = workloads.w2_micrograd_fused(0)
    for _ in range(3):                  # rules, then compile, then run
        step()
    loss, optimiser = step.loss, step.optimiser
    plan = loss.executor
    whole = plan.updates[id(optimiser)][1][
        plan.signature(), optimiser.settings()]
    fused_step = whole.__globals__['fused_step']
    calls = []

    def spy(*args):
        calls.append(args)
        return fused_step(*args)
    whole.__globals__['fused_step'] = spy
    step()
    whole.__globals__['fused_step'] = fused_step
    args = calls[0]
    return {'fused_step': lambda: fused_step(*args),
            'whole': lambda: whole(plan._seed(), optimiser),
            'minimize': step}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--dtype', choices=['float32', 'float64'],
                   default='float64')
    p.add_argument('--quick', action='store_true', help='a few calls only')
    args = p.parse_args(argv)
    calls, turns = (20, 1) if args.quick else (2000, 9)
    timed = parts(args.dtype)
    best = dict.fromkeys(timed, float('inf'))
    for _ in range(turns):
        for name, call in timed.items():
            best[name] = min(best[name],
                             timeit.timeit(call, number=calls) / calls)
    print(f'W2 fused step, {args.dtype}: us per call (best of {turns} turns '
          f'of {calls})')
    below = 0.0
    for name, seconds in best.items():
        print(f'  {name:<12}{seconds * 1e6:8.1f}   '
              f'(+{(seconds - below) * 1e6:.1f})')
        below = seconds


if __name__ == '__main__':
    main()
