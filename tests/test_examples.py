"""The examples run (on a subset, to stay quick)."""
import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / 'examples'


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_classification_on_a_subset(capsys):
    """MLP, minibatches, fit with validation and early stopping: on 500
    images (scikit-learn's digits, or the synthetic stand-in without it)."""
    digits = load('digits')
    score = digits.main(['--rows', '500', '--epochs', '30', '--quiet'])
    out = capsys.readouterr().out
    assert 'test accuracy' in out and 'best validation loss' in out
    assert score > 0.8


def test_digits_without_scikit_learn(monkeypatch):
    """The synthetic stand-in, as when scikit-learn is not installed."""
    import builtins
    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith('sklearn'):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, '__import__', no_sklearn)
    X, y, source = load('digits').load(rows=300)
    assert X.shape == (300, 64) and set(y) <= set(range(10))
    assert source.startswith('synthetic')


@pytest.mark.parametrize('name', ['digits'])
def test_examples_have_a_docstring(name):
    assert load(name).__doc__.strip()
