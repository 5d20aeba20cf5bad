"""pytest settings shared by the tests and the doctests."""

import torch


def pytest_configure(config):
    # The suite runs one pytest-xdist worker per core, and its networks are tiny: a
    # second intra-op thread per worker only oversubscribes the cores (measured 10-50x
    # slower on a loaded 2-core box). Results do not depend on the thread count.
    torch.set_num_threads(1)
