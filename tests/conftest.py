"""Shared pytest set-up: HDL simulators for the cocotb regression (sim/, docs/simulation.md)."""

import os

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--allow-missing-sim", action="store_true", default=False,
        help="skip (with the reason) simulation tests whose simulator is not installed, instead of "
             "failing them; ignored in CI (CI=true). Same as HWGEN_ALLOW_MISSING_SIM=1.")


def pytest_configure(config):
    config.addinivalue_line("markers", "sim: runs an HDL simulator through cocotb (sim/)")


@pytest.fixture(scope="session")
def sim_build_root(tmp_path_factory):
    """Build folders for this session (HWGEN_SIM_BUILD keeps them somewhere else instead)."""
    from pathlib import Path

    given = os.environ.get("HWGEN_SIM_BUILD")
    return Path(given) if given else tmp_path_factory.mktemp("sim_build")


def _require(request, name: str) -> str:
    from sim.runner import available, missing_policy

    why = available(name)
    if why is None:
        return name
    allow = request.config.getoption("--allow-missing-sim") or os.environ.get("HWGEN_ALLOW_MISSING_SIM") == "1"
    if missing_policy(allow) == "skip":
        pytest.skip(f"{name} not available (allowed by --allow-missing-sim): {why}")
    pytest.fail(f"{name} is needed by this test and is not available: {why}\n"
                f"(on a developer machine, `pytest --allow-missing-sim` skips these tests instead)",
                pytrace=False)


@pytest.fixture
def need_simulator(request):
    """``need_simulator(name)``: the same check as the ``simulator`` fixture, for tests that
    choose the simulator in their own parametrization."""
    return lambda name: _require(request, name)


@pytest.fixture(params=["icarus", "verilator"])
def simulator(request):
    """Each simulation test runs under both simulators; an absent one fails (or skips, if allowed)."""
    return _require(request, request.param)


@pytest.fixture(scope="module")
def text_data():
    """A small generated text corpus (train/datasets.py's synthetic-text), one per test module."""
    from train.datasets import load_dataset

    return load_dataset("synthetic-text", limit=3000)


@pytest.fixture(scope="module")
def seq_data():
    """A small generated sequence-classification set (synthetic-seq), one per test module."""
    from train.datasets import load_dataset

    return load_dataset("synthetic-seq", limit=96)
