"""The demo command line, end to end at a small size, and its error paths."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import micrograd as mg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def demo(*args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    return subprocess.run([sys.executable, '-m', 'micrograd.demo', *args],
                          cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def has_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


def coverage_table(stdout):
    rows = re.findall(r'^\s+(0\.\d)\s+(\d+\.\d+)\s+(\d\.\d+)$', stdout, re.M)
    return [(float(q), float(loss), float(cov)) for q, loss, cov in rows]


def test_quantile_demo_end_to_end(tmp_path):
    out = demo('quantile', '--rows', '4000', '--features', '5', '--steps',
               '150', '--hidden', '8', '--out', str(tmp_path / 'o'),
               '--profile', cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    table = coverage_table(out.stdout)
    assert [q for q, _, _ in table] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7,
                                        0.8, 0.9]
    for q, loss, coverage in table:
        assert loss > 0
        assert abs(coverage - q) < 0.08, (q, coverage)   # calibrated bands
    params = mg.load(tmp_path / 'o' / 'quantile_model.npz')
    assert params['layers.0.weight'].shape == (5, 8)
    assert params['layers.0.weight'].dtype == np.float32
    assert 'matmul' in out.stdout and 'backward ms' in out.stdout
    png = tmp_path / 'o' / 'quantile_bands.png'
    if has_matplotlib():
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    else:
        assert 'matplotlib is not installed' in out.stdout


def test_quantile_demo_on_a_csv_with_minibatches(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (600, 2))
    y = x[:, 0] + (1 + np.abs(x[:, 1])) * rng.standard_normal(600)
    csv = tmp_path / 'data.csv'
    np.savetxt(csv, np.c_[x, y], delimiter=',', header='a,b,target',
               comments='')
    out = demo('quantile', '--csv', str(csv), '--target', 'target',
               '--steps', '60', '--batch-size', '128', '--dtype', 'float64',
               '--out', str(tmp_path / 'o'), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(coverage_table(out.stdout)) == 9
    assert 'batch 128' in out.stdout
    assert mg.load(tmp_path / 'o' / 'quantile_model.npz')[
        'layers.0.weight'].dtype == np.float64


@pytest.mark.parametrize('content,args,message', [
    (None, ['--csv', 'missing.csv', '--target', 'y'], 'no such file'),
    ('a,y\n1,2\n3,x\n4,5\n', ['--target', 'y'], "column 'y' is not numeric"),
    ('a,y\n1,2\n3,4\n5,6\n', ['--target', 'z'], "no column 'z'"),
    ('a,y\n1,2\n3,4\n5,6\n', [], '--csv needs --target'),
    ('a,y\n1,2\n3\n5,6\n', ['--target', 'y'], 'line 3 has 1 fields'),
    (None, ['--steps', '0'], '--steps must be at least 1')])
def test_bad_input_is_one_line_and_exit_2(tmp_path, content, args, message):
    if content is not None:
        (tmp_path / 'data.csv').write_text(content)
        args = ['--csv', 'data.csv', *args]
    out = demo('quantile', *args, '--out', str(tmp_path / 'o'), cwd=tmp_path)
    assert out.returncode == 2
    assert 'Traceback' not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr


def test_moons_demo(tmp_path):
    out = demo('moons', '--steps', '150', '--out', str(tmp_path / 'o'),
               cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    accuracy = float(re.search(r'accuracy ([\d.]+)%', out.stdout).group(1))
    assert accuracy > 90
    if has_matplotlib():
        assert (tmp_path / 'o' / 'moons.png').read_bytes()[:4] == b'\x89PNG'
