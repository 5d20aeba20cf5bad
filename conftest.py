"""pytest settings shared by the tests and the doctests."""

import os

import torch
from hypothesis import settings

# CI (.ci/run sets CI=true) replays the same examples on every run, so a submission
# never lands or fails by the luck of the draw; local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_configure(config):
    # The suite runs one pytest-xdist worker per core, and its networks are tiny: a
    # second intra-op thread per worker only oversubscribes the cores (measured 10-50x
    # slower on a loaded 2-core box). Results do not depend on the thread count.
    torch.set_num_threads(1)
