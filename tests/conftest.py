import os
import sys

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
