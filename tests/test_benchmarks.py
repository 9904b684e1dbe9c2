"""The benchmark workloads measure what they say (benchmarks/workloads.py,
benchmarks/run.py)."""
import json
import os
import sys
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'benchmarks'))

import run  # noqa: E402
import workloads  # noqa: E402


def test_w1_data_costs_no_more_memory_than_holding_it():
    """Making W1's data allocates X and y, and no block of X besides
    (which would set the peak above the data of a framework needing less)."""
    rows = 200_000
    tracemalloc.start()
    try:
        X, y = workloads.w1_data(rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    block = 100_000 * 100 * 4           # a block of X's rows
    assert peak - X.nbytes - y.nbytes < block / 4
    rng = np.random.default_rng(0)      # the same numbers as before
    rng.standard_normal(100)
    assert np.array_equal(X[:3], rng.standard_normal((3, 100),
                                                     dtype=np.float32))


def test_workload_reports_libraries_and_table_shows_step(capsys):
    workloads.main(['w1', 'numpy', '--rows', '2000', '--steps', '1'])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['libraries_mib'] == 0         # NumPy: imported already
    assert set(workloads.LIBRARIES) >= {
        'micrograd', 'micrograd_fused', 'numpy', 'torch', 'jax',
        'tensorflow'}
    row = dict(result, seconds=1.0, faults=0, peak_mib=30.0,
               libraries_mib=10.0, step_mib=20.0)
    text, agree = run.table('w1', {'micrograd': row}, 'W1')
    header, line = text.splitlines()[1:3]
    assert header.split()[4:8] == ['peak', 'MiB', 'libraries', 'step']
    assert line.split()[3:6] == ['30', '10', '20']
