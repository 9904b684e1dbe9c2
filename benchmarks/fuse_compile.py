"""What fusion costs before its first fast step: Numba's compile time, with
an empty kernel cache and then again in a second process that finds the
cache filled.

    python benchmarks/fuse_compile.py              # W2, W3, W1 at 100,000 rows
    python benchmarks/fuse_compile.py --quick      # W2 and W3 only (CI)

Each run is a process of its own (`workloads.py`'s micrograd_fused), with
MICROGRAD_CACHE pointing at a new folder for the cold run and at the same
folder for the warm one. Prints, per workload: the seconds from the start
of the process to the end of the third step (import, graph, the first step
on the rules, the second that compiles, a third at full speed), cold and
warm, and the median seconds of 21 steps after them.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

PROBE = '''
import sys, time
start = time.perf_counter()
sys.path.insert(0, {here!r})
import workloads
step = getattr(workloads, {name!r})({steps})
for _ in range(3):
    step()
ready = time.perf_counter()
times = []
for _ in range(21):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
print(ready - start, sorted(times)[10])
'''


def startup(workload: str, cache: str, rows: int) -> tuple:
    """(seconds to the end of the third step, median seconds of the
    next 21)."""
    if workload == 'w1':
        name = 'w1_micrograd_fused'
        code = PROBE.replace('getattr(workloads, {name!r})({steps})',
                             'workloads.w1_micrograd_fused('
                             '*workloads.w1_data({rows}), 5)')
    else:
        name, code = f'{workload}_micrograd_fused', PROBE
    code = code.format(here=HERE, name=name, steps=100, rows=rows)
    env = dict(os.environ, MICROGRAD_CACHE=cache)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f'{workload} failed:\n{out.stderr}')
    first, steady = map(float, out.stdout.split())
    return first, steady


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--rows', type=int, default=100_000)
    args = p.parse_args(argv)
    print(f'load average {os.getloadavg()[0]:.2f}')
    for workload in ('w2', 'w3') if args.quick else ('w2', 'w3', 'w1'):
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            cold, _ = startup(workload, cache, args.rows)
            warm, steady = startup(workload, cache, args.rows)
        print(json.dumps({'workload': workload, 'cold_s': round(cold, 2),
                          'warm_s': round(warm, 2),
                          'steady_step_s': steady,
                          'total_s': round(time.perf_counter() - start, 1)}))


if __name__ == '__main__':
    main()
