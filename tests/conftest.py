"""Shared test setup.

PaddlePaddle segfaults when it is imported after TensorFlow in one process (tf 2.21, paddle 3.3); the other
order works. pytest runs every test file in one process, so when Paddle is installed we import it first, before
any test module can import TensorFlow. Tests of the import guard itself run in subprocesses.
"""

import importlib.util
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if importlib.util.find_spec("paddle") is not None:
    import paddle  # noqa: F401  (must precede tensorflow)

from sign_notes.core import shared_data


@pytest.fixture
def real_islr():
    "The real ISLR competition sequence beside the project, or skip."
    p = shared_data("islr", "16069_10042041.parquet")
    if p is None:
        pytest.skip("../shared/data/islr/16069_10042041.parquet is absent: the real-sequence check needs it")
    return p


@pytest.fixture
def real_fsd():
    "The real FSD skeleton beside the project, or skip."
    p = shared_data("fsd", "example_skeleton.npy")
    if p is None:
        pytest.skip("../shared/data/fsd/example_skeleton.npy is absent: the real-skeleton check needs it")
    return p
