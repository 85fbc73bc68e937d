import os
import sys

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))  # tests import the shared op table as `optable`

settings.register_profile(
    "graphc",
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # CI runs the same examples every time; failures reproduce
)
settings.load_profile(os.environ.get("GRAPHC_HYPOTHESIS_PROFILE", "graphc"))


@pytest.fixture
def declare():
    """gc.defop for a test: the ops it declares leave the registry when the test ends, so no
    other test meets them (registry-wide checks iterate over every declared op)."""
    import graphc as gc
    from graphc.ops.core import PRIMITIVES

    declared = []

    def declare_op(name, *args, **kwargs):
        op = gc.defop(name, *args, replace=True, **kwargs)
        declared.append(name)
        return op

    yield declare_op
    for name in declared:
        PRIMITIVES.pop(name, None)
