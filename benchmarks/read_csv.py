"""Reading a numeric CSV: the demo's reader (pandas' C parser, chunk by chunk
into one preallocated float32 array) against a hand-written csv-module
reader (a list of lists of strings, then float() per cell).

    python benchmarks/read_csv.py                 # a ~600 MB CSV
    python benchmarks/read_csv.py --mb 46         # smaller
    python benchmarks/read_csv.py --mb 46 --old-mb 46

Each reader runs in a fresh subprocess, which reports its wall time and its
peak resident memory (ru_maxrss) above what the interpreter held before the
read. The csv-module reader runs on a file of --old-mb MB (default 46: at
600 MB it would hold about 150 million Python strings at once).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r'''
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import pandas                                     # imported before measuring
from micrograd.demo.files import read_csv

def old_reader(path, target):
    import csv
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    data = np.empty((len(body), len(header)))
    for r, row in enumerate(body):
        for c, field in enumerate(row):
            data[r, c] = float(field)
    t = header.index(target)
    return np.delete(data, t, axis=1).astype(np.float32), data[:, t]

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if {which!r} == 'demo':
    X, y, _ = read_csv({path!r}, 'y', np.float32)
else:
    X, y = old_reader({path!r}, 'y')
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{'seconds': seconds, 'peak_mb': (peak - before) / 1024,
                  'rows': len(X), 'result_mb': (X.nbytes + y.nbytes) / 2**20}}))
'''


def write_csv(path: str, mb: float, features: int = 100, seed: int = 0):
    """Rows of `features` float32 values and a target y, about `mb` MB."""
    rng = np.random.default_rng(seed)
    header = ','.join([f'x{i}' for i in range(features)] + ['y'])
    with open(path, 'w') as f:
        f.write(header + '\n')
        while f.tell() < mb * 2**20:
            block = rng.standard_normal((2_000, features + 1)).astype(
                np.float32)
            np.savetxt(f, block, delimiter=',', fmt='%.7g')
    return os.path.getsize(path)


def measure(which: str, path: str) -> dict:
    code = CHILD.format(root=ROOT, which=which, path=path)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--mb', type=float, default=600,
                   help='size of the CSV the demo reads (default 600)')
    p.add_argument('--old-mb', type=float, default=46,
                   help='size of the CSV both readers read (default 46; '
                   '0 to skip the csv-module reader)')
    args = p.parse_args(argv)
    print(f"{'reader':<28}{'file MB':>9}{'rows':>11}{'seconds':>9}"
          f"{'peak MB':>9}{'result MB':>11}")
    with tempfile.TemporaryDirectory() as folder:
        runs = []
        if args.old_mb:
            small = os.path.join(folder, 'small.csv')
            size = write_csv(small, args.old_mb)
            runs += [('csv module + float()', 'old', small, size),
                     ('demo (pandas, chunked)', 'demo', small, size)]
        if args.mb and args.mb != args.old_mb:
            big = os.path.join(folder, 'big.csv')
            runs.append(('demo (pandas, chunked)', 'demo', big,
                         write_csv(big, args.mb)))
        for label, which, path, size in runs:
            r = measure(which, path)
            print(f'{label:<28}{size / 2**20:>9.0f}{r["rows"]:>11,}'
                  f'{r["seconds"]:>9.2f}{r["peak_mb"]:>9.0f}'
                  f'{r["result_mb"]:>11.0f}', flush=True)


if __name__ == '__main__':
    main()
