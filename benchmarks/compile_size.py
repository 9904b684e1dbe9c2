"""What `compile` costs on long chains: time and memory per node.

    python benchmarks/compile_size.py            # 1,000 / 10,000 / 100,000 ops
    python benchmarks/compile_size.py --quick    # 1,000 and 3,000 ops (CI)
    python benchmarks/compile_size.py --sizes 3000 30000

The chain is W3's: `y = (y * 1.0001 + 0.0001).tanh()` on 16 numbers, three
ops a link, then a sum. Each size runs in a fresh subprocess, which prints:
the time to build the graph, to compile it, the first forward + backward
(it writes the code specialised for the shapes it meets), a steady step
(best of 5), the memory the compiled plan keeps per node (tracemalloc: what
is still allocated after compiling, running and collecting, less what the
built graph held before), and the peak resident memory above the built
graph per node (ru_maxrss, in a second subprocess without tracemalloc, so
that the times are not slowed by it). Kept memory is measured up to 10,000
ops (tracemalloc makes larger chains too slow).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(ops):
    import numpy as np
    from micrograd import Value
    y = Value(np.linspace(-1, 1, 16))
    for _ in range(ops // 3):
        y = (y * 1.0001 + 0.0001).tanh()
    return y.sum()


def rss_kib():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def child(ops, traced):
    sys.setrecursionlimit(10_000)
    import micrograd
    if traced:
        import tracemalloc
        tracemalloc.start()
    gc.collect()
    t0 = time.perf_counter()
    loss = build(ops)
    nodes = len(loss.topo())
    t1 = time.perf_counter()
    gc.collect()
    base = tracemalloc.get_traced_memory()[0] if traced else rss_kib()
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t2 = time.perf_counter()
    micrograd.compile(loss)
    t3 = time.perf_counter()
    loss.forward()
    loss.backward()
    t4 = time.perf_counter()
    steady = float('inf')
    for _ in range(5):
        s = time.perf_counter()
        loss.forward()
        loss.backward()
        steady = min(steady, time.perf_counter() - s)
    gc.collect()
    out = {'ops': ops, 'nodes': nodes, 'build_s': t1 - t0,
           'compile_s': t3 - t2, 'first_step_s': t4 - t3, 'step_s': steady}
    if traced:
        out['kept_per_node'] = (tracemalloc.get_traced_memory()[0] - base
                                ) / nodes
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out['peak_per_node'] = (peak - peak0) * 1024 / nodes
        out['peak_total_mib'] = peak / 1024
    print(json.dumps(out))


def run(ops, traced):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [ROOT, os.environ.get('PYTHONPATH')])))
    cmd = [sys.executable, __file__, '--child', str(ops)]
    if traced:
        cmd.append('--traced')
    done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true',
                   help='small chains only (1,000 and 3,000 ops)')
    p.add_argument('--sizes', type=int, nargs='+')
    p.add_argument('--child', type=int, help=argparse.SUPPRESS)
    p.add_argument('--traced', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args.traced)
    sizes = args.sizes or ([1000, 3000] if args.quick else
                           [1000, 10_000, 100_000])
    print(f"{'ops':>8}{'build s':>10}{'compile s':>11}{'x build':>9}"
          f"{'1st step s':>12}{'step ms':>9}{'kept B/node':>13}"
          f"{'peak B/node':>13}{'peak MiB':>10}")
    for ops in sizes:
        timed = run(ops, traced=False)
        # tracemalloc slows Python several times: kept memory up to 10,000
        kept = run(ops, traced=True)['kept_per_node'] if ops <= 10_000 \
            else float('nan')
        print(f"{ops:>8}{timed['build_s']:>10.3f}{timed['compile_s']:>11.3f}"
              f"{timed['compile_s'] / timed['build_s']:>9.2f}"
              f"{timed['first_step_s']:>12.3f}{timed['step_s'] * 1e3:>9.2f}"
              f"{kept:>13.0f}{timed['peak_per_node']:>13.0f}"
              f"{timed['peak_total_mib']:>10.0f}", flush=True)


if __name__ == '__main__':
    main()
