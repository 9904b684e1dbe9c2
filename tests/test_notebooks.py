"""The notebooks under demos/ run top to bottom (their code cells, in order)."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / 'demos').glob('*.ipynb'))


def test_the_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} >= {
        'demo_scalar.ipynb', 'demo_vector.ipynb', 'quantile_regression.ipynb',
        'higher_order.ipynb', 'classroom.ipynb'}


def test_the_classroom_notebook_is_committed_with_its_outputs():
    cells = json.loads((ROOT / 'demos' / 'classroom.ipynb').read_text())[
        'cells']
    code = [c for c in cells if c['cell_type'] == 'code']
    assert code and all(c['execution_count'] for c in code)
    text = json.dumps([c['outputs'] for c in code])
    for shown in ('grad not needed', 'gradcheck: True',
                  'wrote into its upstream gradient g', 'my_softplus',
                  'engine'):
        assert shown in text, shown


@pytest.mark.parametrize('notebook', NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(notebook, tmp_path):
    pytest.importorskip('matplotlib')
    cells = json.loads(notebook.read_text())['cells']
    code = '\n\n'.join(''.join(c['source']) for c in cells
                       if c['cell_type'] == 'code')
    script = tmp_path / 'notebook.py'
    script.write_text(code)
    env = dict(os.environ, MPLBACKEND='Agg', PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
