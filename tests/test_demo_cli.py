"""The demo command line under bad input: one line on stderr, exit status 2
(130 after Ctrl-C), never a traceback, never a good model file replaced by a
worse one."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import micrograd as mg
from micrograd.demo import main, read_csv
from micrograd.demo.files import DemoError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytest.importorskip('pandas')


def run(*args, cwd):
    """main(args) in this process: (exit status, stdout, stderr)."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        from contextlib import redirect_stderr, redirect_stdout
        from io import StringIO
        out, err = StringIO(), StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            status = main([str(a) for a in args])
        return status, out.getvalue(), err.getvalue()
    finally:
        os.chdir(old)


def one_line_error(status, err, message, code=2):
    assert status == code
    assert 'Traceback' not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


def small_csv(path, rows=300, extra=''):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (rows, 2))
    y = x[:, 0] + rng.standard_normal(rows)
    lines = ['a,b,y'] + [f'{p:.4f},{q:.4f},{t:.4f}' for (p, q), t in zip(x, y)]
    path.write_text('\n'.join(lines) + '\n' + extra)
    return path


FAST = ['--steps', '20', '--hidden', '4']


# ---------------------------------------------------------------- CSV cells

@pytest.mark.parametrize('cell', ['nan', 'inf', '-inf', '1e400', 'NaN', ''])
def test_a_non_finite_cell_is_refused_naming_line_and_column(tmp_path, cell):
    csv = small_csv(tmp_path / 'd.csv')
    lines = csv.read_text().splitlines()
    lines[5] = lines[5].split(',')[0] + f',{cell},1.0'      # line 6, column b
    csv.write_text('\n'.join(lines) + '\n')
    status, _, err = run('quantile', '--csv', csv, '--target', 'y', '--out',
                         tmp_path / 'o', *FAST, cwd=tmp_path)
    one_line_error(status, err, "line 6, column 'b'")
    assert not (tmp_path / 'o' / 'quantile_model.npz').exists()


def test_a_value_beyond_float32_is_refused_in_float32(tmp_path):
    csv = tmp_path / 'd.csv'
    csv.write_text('a,y\n1,2\n1e39,3\n4,5\n')
    with pytest.raises(DemoError, match="line 3, column 'a': '1e39' is not a "
                                        'finite float32'):
        read_csv(str(csv), 'y', np.float32)
    X, y, _ = read_csv(str(csv), 'y', np.float64)
    assert X[1, 0] == 1e39


def test_a_bad_cell_beyond_the_first_chunk_names_its_line(tmp_path, monkeypatch):
    from micrograd.demo import files
    monkeypatch.setattr(files, 'CHUNK_CELLS', 10)     # 1000-row chunks
    csv = small_csv(tmp_path / 'd.csv', rows=2500)
    lines = csv.read_text().splitlines()
    lines[2345] = '1,2,inf'
    csv.write_text('\n\n'.join(lines[:100]) + '\n' + '\n'.join(lines[100:]))
    with pytest.raises(DemoError, match=r"line 2445, column 'y': 'inf'"):
        read_csv(str(csv), 'y', np.float32)


def test_repeated_column_names_are_refused(tmp_path):
    csv = tmp_path / 'd.csv'
    csv.write_text('a,a,y,y\n' + '1,2,3,4\n' * 10)
    status, _, err = run('quantile', '--csv', csv, '--target', 'y', '--out',
                         tmp_path / 'o', *FAST, cwd=tmp_path)
    one_line_error(status, err, 'repeated column names: a, y')


def test_bom_and_trailing_blank_lines_are_read_as_pandas_does(tmp_path):
    plain = small_csv(tmp_path / 'plain.csv')
    bom = tmp_path / 'bom.csv'
    bom.write_bytes(b'\xef\xbb\xbf' + plain.read_bytes() + b'\n\n')
    X1, y1, names1 = read_csv(str(plain), 'y', np.float32)
    X2, y2, names2 = read_csv(str(bom), 'y', np.float32)
    assert names1 == names2 == ['a', 'b']
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    import pandas as pd
    frame = pd.read_csv(bom)
    np.testing.assert_array_equal(X2, frame[['a', 'b']].to_numpy(np.float32))


def test_latin1_bytes_are_refused_in_one_line_or_read_with_encoding(tmp_path):
    csv = tmp_path / 'd.csv'
    csv.write_bytes('caf\xe9,y\n'.encode('latin-1') + b'1,2\n3,4\n5,6\n')
    status, _, err = run('quantile', '--csv', csv, '--target', 'y', '--out',
                         tmp_path / 'o', *FAST, cwd=tmp_path)
    one_line_error(status, err, 'not utf-8 text')
    assert '--encoding latin-1' in err
    X, y, names = read_csv(str(csv), 'y', np.float32, encoding='latin-1')
    assert names == ['café'] and y.tolist() == [2, 4, 6]


def test_too_many_fields_on_a_later_line(tmp_path):
    csv = tmp_path / 'd.csv'
    csv.write_text('a,y\n1,2\n3,4\n5,6,7\n8,9\n')
    with pytest.raises(DemoError, match='line 4 has 3 fields, the header has 2'):
        read_csv(str(csv), 'y', np.float32)


@pytest.mark.parametrize('content,message', [
    ('', 'empty file'), ('a,y\n', 'at least 2 data rows'),
    ('a,,y\n1,2,3\n4,5,6\n', 'column 2 of the header has no name'),
    ('a,y\n1,2\nx,4\n5,6\n', "column 'a' is not numeric (line 3: 'x')")])
def test_other_bad_files(tmp_path, content, message):
    csv = tmp_path / 'd.csv'
    csv.write_text(content)
    with pytest.raises(DemoError) as caught:
        read_csv(str(csv), 'y', np.float32)
    assert message in str(caught.value)


# ---------------------------------------------------------------- arguments

@pytest.mark.parametrize('args,message', [
    (['quantile', '--lr', 'nan'], "--lr must be a finite number above 0, "
                                  "got 'nan'"),
    (['quantile', '--lr', 'inf'], '--lr must be a finite number'),
    (['quantile', '--lr', '0'], '--lr must be a finite number above 0'),
    (['quantile', '--seed', '-1'], "--seed must be at least 0, got '-1'"),
    (['quantile', '--rows', '2.5'], '--rows must be a whole number'),
    (['quantile', '--weight-decay', '-1'], '--weight-decay must be'),
    (['quantile', '--validation', '0.9'], 'at most 0.5'),
    (['quantile', '--patience', '-2'], '--patience must be at least 0'),
    (['quantile', '--encoding', 'klingon'], "unknown encoding 'klingon'"),
    (['quantile', '--dtype', 'int8'], 'invalid choice'),
    (['quantile', '--target', 'y'], '--target needs --csv'),
    (['moons', '--steps', '-3'], "--steps must be at least 1, got '-3'"),
    (['moons', '--lr', '-1'], "--lr must be a finite number above 0"),
    (['moons', '--lr', 'nan'], "--lr must be a finite number above 0"),
    (['moons', '--seed', '-1'], '--seed must be at least 0'),
    (['predict', '--model', 'm.npz'], 'required'),
    (['fly'], 'invalid choice'), ([], 'required')])
def test_every_argument_is_validated(tmp_path, args, message):
    status, _, err = run(*args, '--out', tmp_path / 'o', cwd=tmp_path) \
        if args and args[0] in ('quantile', 'moons') else run(*args,
                                                              cwd=tmp_path)
    one_line_error(status, err, message)
    assert not (tmp_path / 'o').exists() or args[0] == 'predict'


def test_out_of_memory_is_one_line(tmp_path):
    status, _, err = run('quantile', '--rows', '1e12', '--out', tmp_path / 'o',
                         cwd=tmp_path)
    one_line_error(status, err, 'out of memory')


# ---------------------------------------------------------------- outputs

def test_out_under_a_file_is_refused_before_training(tmp_path):
    (tmp_path / 'file').write_text('not a folder')
    start = time.perf_counter()
    status, out, err = run('quantile', '--out', tmp_path / 'file' / 'o',
                           '--rows', '2000', '--features', '3', cwd=tmp_path)
    one_line_error(status, err, 'cannot write there')
    assert 'trained' not in out
    status, out, err = run('moons', '--out', tmp_path / 'file', cwd=tmp_path)
    one_line_error(status, err, 'is a file, not a folder')
    assert 'accuracy' not in out


@pytest.mark.skipif(hasattr(os, 'geteuid') and os.geteuid() == 0,
                    reason='root may write anywhere')
def test_an_unwritable_out_is_refused_before_training(tmp_path):
    folder = tmp_path / 'ro'
    folder.mkdir()
    folder.chmod(0o500)
    try:
        status, out, err = run('quantile', '--out', folder, '--rows', '2000',
                               '--features', '3', cwd=tmp_path)
    finally:
        folder.chmod(0o700)
    one_line_error(status, err, 'cannot write there')
    assert 'trained' not in out


def test_a_model_file_name_taken_by_a_folder_is_refused_first(tmp_path):
    (tmp_path / 'o' / 'quantile_model.npz').mkdir(parents=True)
    status, out, err = run('quantile', '--out', tmp_path / 'o', '--rows',
                           '2000', '--features', '3', cwd=tmp_path)
    one_line_error(status, err, 'is a folder')
    assert 'trained' not in out


def test_a_diverged_model_never_replaces_a_good_file(tmp_path):
    args = ['quantile', '--rows', '2000', '--features', '3', '--hidden', '4',
            '--out', tmp_path / 'o']
    status, _, _ = run(*args, '--steps', '30', cwd=tmp_path)
    assert status == 0
    good = (tmp_path / 'o' / 'quantile_model.npz').read_bytes()
    with np.errstate(all='ignore'):
        status, out, err = run(*args, '--steps', '30', '--lr', '1e35',
                               '--validation', '0', cwd=tmp_path)
    one_line_error(status, err, 'training diverged')
    assert 'was not written' in err
    assert (tmp_path / 'o' / 'quantile_model.npz').read_bytes() == good


# ---------------------------------------------------------------- the model

def test_save_model_refuses_parameters_that_are_not_finite(tmp_path):
    from micrograd.demo.files import save_model
    model = mg.nn.TensorMLP(2, [3, 9], rng=0)
    model.parameters()[0].data[0, 0] = np.nan
    with pytest.raises(DemoError, match="not finite .'layers.0.weight'.; .* "
                                        'was not written'):
        save_model(str(tmp_path / 'm.npz'), model, features=['a', 'b'],
                   target='y', quantiles=[0.1] * 9, hidden=3,
                   x_mean=[0, 0], x_scale=[1, 1], y_mean=0, y_scale=1)
    assert not (tmp_path / 'm.npz').exists()


def test_the_model_file_holds_what_prediction_needs_and_predict_uses_it(
        tmp_path):
    csv = small_csv(tmp_path / 'd.csv')
    status, _, err = run('quantile', '--csv', csv, '--target', 'y', '--out',
                         tmp_path / 'o', '--steps', '60', '--hidden', '8',
                         cwd=tmp_path)
    assert status == 0, err
    state = mg.load(tmp_path / 'o' / 'quantile_model.npz')
    assert state['meta.features'].tolist() == ['a', 'b']
    assert str(state['meta.target']) == 'y'
    assert state['meta.quantiles'].tolist() == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                                                0.7, 0.8, 0.9]
    assert state['meta.layer_sizes'].tolist() == [2, 8, 9]
    assert state['meta.x_mean'].shape == state['meta.x_scale'].shape == (2,)
    # new rows, columns in another order, the target column absent
    new = tmp_path / 'new.csv'
    new.write_text('b,a\n0,0\n1,-1\n0,2\n')
    status, out, err = run('predict', '--model', tmp_path / 'o' /
                           'quantile_model.npz', '--csv', new, '--out',
                           tmp_path / 'p.csv', cwd=tmp_path)
    assert status == 0, err
    lines = (tmp_path / 'p.csv').read_text().splitlines()
    assert lines[0] == 'q0.1,q0.2,q0.3,q0.4,q0.5,q0.6,q0.7,q0.8,q0.9'
    pred = np.loadtxt(tmp_path / 'p.csv', delimiter=',', skiprows=1)
    assert pred.shape == (3, 9)
    assert (np.diff(pred, axis=1) >= 0).all()               # monotone
    # the same rows through the model by hand
    X = np.array([[0., 0.], [-1., 1.], [2., 0.]])
    model = mg.nn.TensorMLP(2, [8, 9], dtype='float32')
    model.load_state_dict({k: v for k, v in state.items()
                           if not k.startswith('meta.')})
    Xs = ((X - state['meta.x_mean']) / state['meta.x_scale']).astype('float32')
    raw = np.asarray(model(mg.Value(Xs, requires_grad=False)).data) * \
        state['meta.y_scale'] + state['meta.y_mean']
    np.testing.assert_allclose(pred, np.sort(raw, axis=1), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize('header,message', [
    ('a,c', 'missing b; unknown c'), ('a', 'missing b'),
    ('a,b,z', 'unknown z')])
def test_predict_refuses_columns_that_do_not_match(tmp_path, header, message):
    csv = small_csv(tmp_path / 'd.csv')
    assert run('quantile', '--csv', csv, '--target', 'y', '--out',
               tmp_path / 'o', *FAST, cwd=tmp_path)[0] == 0
    new = tmp_path / 'new.csv'
    new.write_text(header + '\n' + ','.join(['1'] * len(header.split(',')))
                   + '\n')
    status, _, err = run('predict', '--model', tmp_path / 'o' /
                         'quantile_model.npz', '--csv', new, '--out',
                         tmp_path / 'p.csv', cwd=tmp_path)
    one_line_error(status, err, message)
    assert "the model needs a, b" in err
    assert not (tmp_path / 'p.csv').exists()


def test_predict_refuses_a_file_that_is_not_a_model(tmp_path):
    mg.save(tmp_path / 'w.npz', {'layers.0.weight': np.ones((2, 2))})
    (tmp_path / 'new.csv').write_text('a\n1\n')
    status, _, err = run('predict', '--model', tmp_path / 'w.npz', '--csv',
                         tmp_path / 'new.csv', '--out', tmp_path / 'p.csv',
                         cwd=tmp_path)
    one_line_error(status, err, 'not a model saved by')
    status, _, err = run('predict', '--model', tmp_path / 'none.npz', '--csv',
                         tmp_path / 'new.csv', '--out', tmp_path / 'p.csv',
                         cwd=tmp_path)
    one_line_error(status, err, 'no such file')


# ---------------------------------------------------------------- Ctrl-C

@pytest.mark.parametrize('demo', ['quantile', 'moons'])
def test_ctrl_c_is_one_line_exit_130_and_saves_the_best(tmp_path, demo):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED='1')
    args = ['--rows', '20000', '--features', '10', '--steps', '1000000',
            '--patience', '0'] if demo == 'quantile' else ['--steps',
                                                           '100000000']
    proc = subprocess.Popen([sys.executable, '-m', 'micrograd.demo', demo,
                             *args, '--out', str(tmp_path / 'o')],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = ''
    while 'step' not in seen:                    # training has started
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        seen += line if line.startswith('  step') else ''
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    one_line_error(proc.returncode, err, 'interrupted at step', code=130)
    if demo == 'quantile':
        state = mg.load(tmp_path / 'o' / 'quantile_model.npz')
        assert all(np.isfinite(v).all() for k, v in state.items()
                   if not k.startswith('meta.'))
        assert 'saved the parameters of step' in err
        assert 'held-out rows' in out


# ---------------------------------------------------------------- real data

def test_diabetes_early_stopping_beats_the_old_default(tmp_path):
    datasets = pytest.importorskip('sklearn.datasets')
    frame = datasets.load_diabetes(as_frame=True).frame
    frame.to_csv(tmp_path / 'diabetes.csv', index=False)
    status, out, err = run('quantile', '--csv', tmp_path / 'diabetes.csv',
                           '--target', 'target', '--out', tmp_path / 'o',
                           cwd=tmp_path)
    assert status == 0, err
    table = {float(q): (float(loss), float(cov)) for q, loss, cov in (
        line.split() for line in out.splitlines()
        if line.strip().startswith('0.') and len(line.split()) == 3)}
    assert table[0.1][0] < 11.5          # 12.7 with 300 steps, no stopping
    assert 0.07 < table[0.1][1] < 0.2 and 0.8 < table[0.9][1] < 0.95
    assert 'stopped early' in out and 'kept the parameters of step' in out
