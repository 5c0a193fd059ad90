"""Shared pytest fixtures: the real data under ../shared/data, the workflow runs several test files read."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import SHARED_DATA, snakemake, tiny_config, write_config


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (read-only real datasets); fails loudly when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"real test data not found at {SHARED_DATA}: the tests need ../shared/data next to the project "
            "(chest_xray/, ham10000/, breastmnist.npz; see its README.md)",
            pytrace=False,
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, shared_data):
    """The whole DAG of config/tiny.yaml, run locally once per session (test_workflow.py, and the
    reference test_slurm.py compares the SLURM run with) -> (its directory, the finished process).

    Under pytest-xdist (``-n 2``) every worker is its own session: the first worker that asks runs
    the DAG in a directory all workers share, under a file lock; the others wait for it and reuse
    the tree (its process is rebuilt from what the first worker saved).
    """
    import json
    import os
    import subprocess

    from filelock import FileLock

    name = "tiny run with spaces ü"
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        work = tmp_path_factory.mktemp(name)
        write_config(work, tiny_config(), "tiny.yaml")
        return work, snakemake(work, "--cores", "2", "--resources", "gpu=1")
    shared = tmp_path_factory.getbasetemp().parent  # one per test session, shared by its workers
    work, done = shared / name, shared / "tiny_run.json"
    with FileLock(str(shared / "tiny_run.lock")):
        if not done.is_file():
            work.mkdir()
            write_config(work, tiny_config(), "tiny.yaml")
            proc = snakemake(work, "--cores", "2", "--resources", "gpu=1")
            done.write_text(json.dumps({"args": proc.args, "returncode": proc.returncode, "stdout": proc.stdout,
                                        "stderr": proc.stderr}))  # fmt: skip
    saved = json.loads(done.read_text())
    return work, subprocess.CompletedProcess(**saved)


@pytest.fixture(scope="session")
def slurm_installed():
    """snakemake-executor-plugin-slurm importable and Debian's slurm-wlm + munge installed (apt-get if
    needed). Fails, never skips, with the reason when that is impossible."""
    import importlib.util

    from slurm_cluster import ClusterError, ensure_installed

    missing = [
        m
        for m in ("snakemake_executor_plugin_slurm", "snakemake_executor_plugin_slurm_jobstep")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: install the project with `pip install -e '.[slurm]'`", pytrace=False
        )
    try:
        ensure_installed()
    except ClusterError as exc:
        pytest.fail(f"cannot install SLURM for the cluster tests: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is faster and steadier
    (a module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def _one_thread_per_xdist_worker():
    """Under pytest-xdist (``-n 2`` on 2 cores) each worker computes with one torch thread: two
    workers with two OpenMP threads each oversubscribe the cores and wait on each other's barriers."""
    import os

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
