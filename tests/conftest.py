"""Hypothesis profiles, chosen with the HYPOTHESIS_PROFILE environment
variable: 'ci' (few examples, derandomized), 'dev' (the default) and
'thorough'. Every profile has no deadline: a gradient check runs the
function twice per input element, and the time varies with the drawn shapes.
"""
import os

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None,
               suppress_health_check=[HealthCheck.too_slow,
                                      HealthCheck.data_too_large])

settings.register_profile('ci', max_examples=15, derandomize=True,
                          print_blob=True, **_COMMON)
settings.register_profile('dev', max_examples=40, **_COMMON)
settings.register_profile('thorough', max_examples=300, **_COMMON)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'dev'))


@pytest.fixture
def forget_user_ops():
    """Ops a test defines (micrograd.Op registers them by name) leave the
    library's registry, micrograd.OPS, as it was."""
    import micrograd as mg
    before = dict(mg.OPS)
    yield
    mg.OPS.clear()
    mg.OPS.update(before)
