"""cProfile rows name each op's rules: one pass over the op table (build,
re-forward, backward) under the profiler must show every `*_backward` and
`*_forward` rule of the op library (micrograd/ops/) by name, and no anonymous or generic
name (`<lambda>`, `_backward`, `backward` other than Value.backward) from
the micrograd package.

cProfile keys its rows by (filename, first line, function name), the name
being the code object's co_name: a method shows as `backward`, not
`Value.backward`, and a lambda as `<lambda>`. Rows are matched to the
micrograd package by the file's directory.
"""
import cProfile
import inspect
import os
import pstats

import numpy as np
import pytest

import micrograd as mg
from micrograd import engine, ops
from op_table import ROWS

PACKAGE = os.path.dirname(os.path.abspath(mg.__file__)) + os.sep
FORBIDDEN = {'<lambda>', '_backward', 'backward'}


OPS_DIR = os.path.dirname(os.path.abspath(ops.__file__)) + os.sep
OPS_MODULES = [m for m in vars(ops).values() if inspect.ismodule(m) and
               m.__name__.startswith(ops.__name__ + '.')]


def in_package(filename):
    return os.path.abspath(filename).startswith(PACKAGE)


def in_ops(filename):
    return os.path.abspath(filename).startswith(OPS_DIR)


@pytest.fixture(scope='module')
def profile_rows():
    """(filename, lineno, funcname) of every function the pass called."""
    cases = [(row, row.example_cases()[0]) for row in ROWS]
    profiler = cProfile.Profile()
    profiler.enable()
    for row, case in cases:
        leaves = [mg.Value(a) for a in case.arrays]
        out = row.fn(*leaves, **case.params)
        out.forward()
        out.backward(np.ones(out.shape))
    profiler.disable()
    return set(pstats.Stats(profiler).stats)


def rules(kind):
    return {getattr(op, kind) for op in mg.OPS.values()
            if getattr(op, kind) is not None}


@pytest.mark.parametrize('kind', ['backward', 'forward'])
def test_every_rule_of_ops_py_appears_by_name(profile_rows, kind):
    seen = {name for filename, _, name in profile_rows if in_ops(filename)}
    names = {f.__name__ for f in rules(kind)
             if in_ops(inspect.getsourcefile(f))}
    differentiable = {name for name in names
                      if kind == 'forward' or name.endswith('_backward')}
    # comparisons, tests and stop_gradient are not in the differentiable table
    exempt = {f'{n}_forward' for n in
              ('greater', 'greater_equal', 'less', 'less_equal',
               'equal', 'not_equal', 'stop_gradient', 'isnan', 'isfinite',
               'logical_not')}
    assert len(differentiable) > 20
    assert all(name.endswith(f'_{kind}') for name in differentiable)
    assert differentiable - exempt - seen == set()


def test_every_backward_function_defined_in_ops_py_appears(profile_rows):
    """Also helpers named *_backward (e.g. a rule shared by max and min)."""
    seen = {name for filename, _, name in profile_rows if in_ops(filename)}
    defined = {name for module in OPS_MODULES
               for name, f in vars(module).items()
               if name.endswith('_backward') and inspect.isfunction(f)
               and f.__module__ == module.__name__}
    assert len(OPS_MODULES) >= 6
    assert defined - seen == set()


def test_rules_are_named_module_level_functions():
    for op in mg.OPS.values():
        for rule in (op.forward, op.backward):
            if rule is None:
                continue
            assert inspect.isfunction(rule)
            assert rule.__name__ == rule.__qualname__   # not nested
            assert rule.__name__ in (f'{op.name}_forward',
                                     f'{op.name}_backward'), rule


def test_no_anonymous_or_generic_names_from_ops(profile_rows):
    """The op library, backend.py, gradcheck.py: no lambda, no `_backward`, no
    `backward`."""
    bad = sorted((os.path.basename(f), line, name)
                 for f, line, name in profile_rows
                 if in_package(f) and name in FORBIDDEN
                 and os.path.abspath(f) != os.path.abspath(engine.__file__))
    assert bad == []


def test_only_value_backward_is_named_backward_in_the_engine(profile_rows):
    engine_file = os.path.abspath(engine.__file__)
    allowed = (engine_file, inspect.getsourcelines(mg.Value.backward)[1],
               'backward')
    rows = {(os.path.abspath(f), line, name) for f, line, name in profile_rows
            if name in ('backward', '_backward') and in_package(f)}
    assert rows == {allowed}


def test_no_lambda_from_the_engine(profile_rows):
    bad = sorted((os.path.basename(f), line, name)
                 for f, line, name in profile_rows
                 if in_package(f) and name == '<lambda>')
    assert bad == []
