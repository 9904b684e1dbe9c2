"""Run the benchmark workloads side by side and print one table.

    python benchmarks/run.py                 # W1 at 1.5M rows, W2, W3
    python benchmarks/run.py --rows 400000   # a smaller W1
    python benchmarks/run.py --quick         # tiny sizes, one run (CI)
    python benchmarks/run.py --scaling       # W1 at 100k, 400k, 1.5M rows
    python benchmarks/run.py --only w1 --frameworks micrograd_fused tensorflow
    python benchmarks/run.py --only w2 --w2-dtype float32   # W2 in float32

Each (workload, framework) runs in its own process; the runs are alternated
between frameworks and repeated, and the table shows medians. Memory: "peak
MiB" is the peak above the data (everything the framework adds: its
libraries, compiling, the step's arrays); "libraries" the part of it that
is the framework's libraries once imported; "step" the peak above data and
libraries (the step's working memory, with what its first run compiles or
initialises). Frameworks:
micrograd, hand-written NumPy (always); PyTorch (eager), JAX (jit) and
TensorFlow (tf.function) where installed; micrograd_fused (compile or
chunked with fuse=True) where Numba is installed.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
UNITS = {'w1': ('s/step', 1), 'w2': ('us/step', 1e6), 'w3': ('us/op', 1e6)}


def frameworks(workload):
    names = ['micrograd', 'numpy']
    if workload in ('w2', 'w3'):
        names.insert(1, 'micrograd_interpreted')
    if workload == 'w3':
        names.insert(2, 'micrograd_rebuild')
    if workload == 'w1':
        names.insert(1, 'micrograd_whole')
    if importlib.util.find_spec('numba'):
        names.insert(1, 'micrograd_fused')
    for peer in ('torch', 'jax', 'tensorflow'):
        if importlib.util.find_spec(peer):
            names.append(peer)
    return names


def run_one(workload, framework, rows, steps, dtype='float64'):
    cmd = [sys.executable, os.path.join(HERE, 'workloads.py'), workload,
           framework, '--rows', str(rows), '--steps', str(steps),
           '--dtype', dtype]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')     # TensorFlow: quiet
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600,
                         env=env)
    if out.returncode != 0:
        raise SystemExit(f'{workload} {framework} failed:\n{out.stderr}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(workload, rows, steps, repeats, only=None, dtype='float64'):
    results = {f: [] for f in frameworks(workload)
               if not only or f in only or f == 'micrograd'}
    for _ in range(repeats):                 # alternate the frameworks
        for f in results:
            results[f].append(run_one(workload, f, rows, steps, dtype))
    return {f: {'seconds': statistics.median(r['seconds'] for r in runs),
                'peak_mib': statistics.median(r['peak_mib'] for r in runs),
                'libraries_mib': statistics.median(r['libraries_mib']
                                                   for r in runs),
                'step_mib': statistics.median(r['peak_mib'] -
                                              r['libraries_mib']
                                              for r in runs),
                'faults': statistics.median(r['faults'] for r in runs),
                'loss': runs[-1]['loss']}
            for f, runs in results.items()}


def table(workload, results, title):
    unit, scale = UNITS[workload]
    base = results['micrograd']
    lines = [title, f"  {'framework':<20}{unit:>12}{'x micrograd':>13}"
                    f"{'peak MiB':>10}{'libraries':>11}{'step':>6}"
                    f"{'faults/step':>13}{'final loss':>14}"]
    for f, r in results.items():
        lines.append(f"  {f:<20}{r['seconds'] * scale:>12.4g}"
                     f"{r['seconds'] / base['seconds']:>13.2f}"
                     f"{r['peak_mib']:>10.0f}{r['libraries_mib']:>11.0f}"
                     f"{r['step_mib']:>6.0f}{r['faults']:>13.0f}"
                     f"{r['loss']:>14.6g}")
    losses = [r['loss'] for r in results.values()]
    agree = max(losses) - min(losses) <= 1e-3 * max(1.0, abs(losses[0]))
    lines.append(f"  final losses {'agree' if agree else 'DISAGREE'} "
                 f'(spread {max(losses) - min(losses):.2g})')
    return '\n'.join(lines), agree


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rows', type=int, default=1_500_000)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--repeats', type=int, default=None,
                   help='runs per framework (default: 3 for W1, 7 for the '
                        'short W2 and W3)')
    p.add_argument('--quick', action='store_true')
    p.add_argument('--scaling', action='store_true')
    p.add_argument('--only', choices=['w1', 'w2', 'w3'], action='append')
    p.add_argument('--frameworks', nargs='+', metavar='NAME',
                   help='only these (and micrograd, the baseline)')
    p.add_argument('--w2-dtype', choices=['float32', 'float64'],
                   default='float64', help="W2's data and parameters")
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.steps, args.repeats = 20_000, 2, 1
    repeats = {'w1': args.repeats or 3, 'w2': args.repeats or 7,
               'w3': args.repeats or 7}
    print(f'machine: {platform.machine()}, {os.cpu_count()} cores, '
          f'load average {os.getloadavg()[0]:.2f}, Python '
          f'{platform.python_version()}')
    all_agree = True
    if args.scaling:
        for rows in ((20_000, 40_000) if args.quick else
                     (100_000, 400_000, 1_500_000)):
            text, agree = table('w1', measure('w1', rows, args.steps,
                                              repeats['w1'], args.frameworks),
                                f'W1 quantile regression, {rows:,} rows')
            print(text)
            all_agree &= agree
    else:
        names = {'w1': f'W1 quantile regression, {args.rows:,} rows x 100',
                 'w2': f'W2 two moons, MLP 2-16-16-1, {args.w2_dtype}',
                 'w3': 'W3 chain of 500 x (y * 1.0001 + 0.0001).tanh()'}
        for w in args.only or ['w1', 'w2', 'w3']:
            text, agree = table(w, measure(
                w, args.rows, args.steps * (1 if w == 'w1' else 100),
                repeats[w], args.frameworks,
                args.w2_dtype if w == 'w2' else 'float64'), names[w])
            print(text)
            all_agree &= agree
    return 0 if all_agree else 1


if __name__ == '__main__':
    sys.exit(main())
