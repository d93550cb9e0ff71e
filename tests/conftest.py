import pytest
import torch as th


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The tests run tiny networks, in parallel (pytest -n 2): one thread per process is fastest."""
    th.set_num_threads(1)
