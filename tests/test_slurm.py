"""The workflow on a real SLURM cluster through profiles/slurm (snakemake-executor-plugin-slurm).

The cluster is Debian's slurm-wlm on this machine, one node, started by tests/slurm_cluster.py
(apt-get installs it when missing; a machine where that is impossible fails the test with the
reason). The micro sub-sweep of the tiny config (helpers.micro_config) runs through
`--workflow-profile profiles/slurm`. Every one of its jobs is also a job of the local tiny run
(conftest.tiny_run: same rule, params and inputs, another directory), so the SLURM run's table
rows and per-job results must equal the tiny run's byte for byte - which also checks that the
pipeline is deterministic on the CPU, without paying for a second local run.
"""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from helpers import REPO, job_counts, micro_config, snakemake, write_config

PROFILE = REPO / "profiles" / "slurm"
# Without an accounting daemon (slurmdbd) there is no sacct history: poll squeue, submit without
# an account. Keep successful jobs' SLURM logs (the plugin deletes them by default) to check them.
CLUSTER_ARGS = (
    "--workflow-profile", str(PROFILE),
    "--slurm-status-command", "squeue",
    "--slurm-no-account",
    "--slurm-keep-successful-logs",
    "--slurm-init-seconds-before-status-checks", "1",
)
TABLES = ("classifier_runs.csv", "gan_scores.csv")


def load_profile(name: str = "slurm") -> dict:
    return yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())


def gpu_rules() -> set[str]:
    """Rules whose `resources:` declare gpu=1 in workflow/rules/*.smk."""
    rules = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"^(?=rule )", smk.read_text(), flags=re.M):
            head = re.match(r"rule (\w+):", block)
            if head and re.search(r"^\s+gpu=1,?\s*$", block, flags=re.M):
                rules.add(head.group(1))
    return rules


def expected_resources(rule: str) -> dict:
    prof = load_profile()
    return {**prof["default-resources"], **(prof.get("set-resources") or {}).get(rule, {})}


def slurm_time(minutes: int) -> str:
    days, rest = divmod(int(minutes), 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text


# ----------------------------------------------------------------------------- the profile itself


def test_profile_maps_every_gpu_rule():
    prof = load_profile()
    assert prof["executor"] == "slurm"
    assert isinstance(prof["jobs"], int) and prof["jobs"] > 0
    assert prof["latency-wait"] >= 30
    assert {"slurm_partition", "runtime", "mem_mb"} <= set(prof["default-resources"])
    declared = gpu_rules()
    assert {"train_gan", "gan_metrics", "train_classifier"} <= declared
    assert set(prof["set-resources"]) == declared, "every rule with resources gpu=1, and only those"
    for rule, res in prof["set-resources"].items():
        assert res.get("gpu") == 1 and "gres" not in res, (rule, res)
    # a global `resources: gpu=N` would serialise GPU jobs across the cluster
    for name in ("slurm", "default"):
        assert "resources" not in load_profile(name), name


@pytest.mark.slurm
def test_profile_dry_run(tmp_path, shared_data, slurm_installed):
    """Snakemake itself accepts the profile; every GPU rule gets the GPU partition and gpu=1."""
    write_config(tmp_path, micro_config(), "micro.yaml")
    proc = snakemake(tmp_path, "-n", "--workflow-profile", str(PROFILE), configfile="micro.yaml")
    out = proc.stdout + proc.stderr
    blocks = re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", out, flags=re.M | re.S)
    assert blocks, out[-3000:]
    for rule, block in blocks:
        if rule == "all":
            continue
        want = expected_resources(rule)
        resources = re.search(r"resources: (.+)", block).group(1)
        assert f"slurm_partition={want['slurm_partition']}" in resources, (rule, resources)
        assert f"mem_mb={want['mem_mb']}" in resources and f"runtime={want['runtime']}" in resources, (rule, resources)
        assert ("gpu=1" in resources) == (rule in gpu_rules()), (rule, resources)


# ----------------------------------------------------------------------------- a real cluster


@pytest.fixture(scope="module")
def slurm_cluster(slurm_installed):
    from slurm_cluster import ClusterError, SlurmCluster

    cluster = SlurmCluster()
    try:
        cluster.start()
    except ClusterError as exc:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
        pytest.fail(f"cannot start the test SLURM cluster: {exc}", pytrace=False)
    yield cluster
    cluster.stop()  # slurmd, slurmctld, munged: the processes this fixture started
    shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory, shared_data):
    """The micro sub-sweep through profiles/slurm on the test cluster: (workdir, output, seconds)."""
    work = tmp_path_factory.mktemp("micro slurm")
    write_config(work, micro_config(), "micro.yaml")
    start = time.monotonic()
    proc = snakemake(work, *CLUSTER_ARGS, configfile="micro.yaml", env=slurm_cluster.env, check=False)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        pytest.fail(
            f"snakemake through profiles/slurm failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
            f"{proc.stderr[-8000:]}\n{slurm_cluster.logs()}"
        )
    print(f"micro sub-sweep through SLURM: {seconds:.0f} s")
    return work, proc.stdout + proc.stderr, seconds


def slurm_jobs(work: Path) -> list[tuple[str, str, Path]]:
    """(rule, SLURM job id, SLURM log) of every job the plugin submitted, from .snakemake/slurm_logs."""
    logs = sorted((work / ".snakemake" / "slurm_logs").glob("rule_*/**/*.log"))
    return [(p.relative_to(work / ".snakemake" / "slurm_logs").parts[0][len("rule_"):], p.stem, p) for p in logs]


@pytest.mark.slow
@pytest.mark.slurm
def test_every_job_went_through_sbatch(slurm_run, slurm_cluster):
    work, output, _ = slurm_run
    jobs = slurm_jobs(work)
    # the run's own DAG; `all` only collects the targets: nothing to submit
    expected = {rule: n for rule, n in job_counts(output).items() if rule != "all"}
    assert {"train_gan", "gan_metrics", "train_classifier", "classifier_report"} <= set(expected)
    assert Counter(rule for rule, _, _ in jobs) == expected
    ids = [job_id for _, job_id, _ in jobs]
    assert all(i.isdigit() for i in ids) and len(set(ids)) == len(ids), ids
    assert sorted(re.findall(r"submitted with SLURM jobid (\d+)", output), key=int) == sorted(ids, key=int)
    for rule, job_id, log in jobs:
        info = slurm_cluster.scontrol_job(job_id)  # finished jobs stay listed for MinJobAge
        want = expected_resources(rule)
        assert (info["JobState"], info["ExitCode"]) == ("COMPLETED", "0:0"), (rule, info)
        assert info["Partition"] == want["slurm_partition"], (rule, info["Partition"])
        assert info["MinMemoryNode"] == f"{want['mem_mb']}M", (rule, info["MinMemoryNode"])
        assert info["TimeLimit"] == slurm_time(want["runtime"]), (rule, info["TimeLimit"])
        threads = re.search(r"^\s+threads: (\d+)$", log.read_text(), flags=re.M)
        assert info["CPUs/Task"] == (threads.group(1) if threads else "1"), (rule, info["CPUs/Task"])
        if want.get("gpu"):
            assert info.get("JOB_GRES") == "gpu:1" and info.get("TresPerJob") == "gres:gpu:1", (rule, info)
        else:
            assert info.get("JOB_GRES") in (None, "(null)"), (rule, info)


@pytest.mark.slow
@pytest.mark.slurm
def test_gan_jobs_were_granted_a_gpu(slurm_run):
    """The GAN log records the job environment: SLURM's job id and the GPU it handed the job."""
    work, _, _ = slurm_run
    gan_ids = {job_id for rule, job_id, _ in slurm_jobs(work) if rule == "train_gan"}
    assert gan_ids
    seen = set()
    for log in (work / "results" / "logs" / "train_gan").rglob("*.log"):
        line = re.search(r"^job environment: (.+)$", log.read_text(), flags=re.M)
        assert line, f"{log}: no job environment line"
        env = dict(item.split("=", 1) for item in line.group(1).split())
        assert env["CUDA_VISIBLE_DEVICES"] == "0", (log, env)  # the node's one (/dev/null-backed) GPU
        assert env["SLURM_STEP_GPUS"] == "0", (log, env)
        seen.add(env["SLURM_JOB_ID"])
    assert seen == gan_ids


@pytest.mark.slow
@pytest.mark.slurm
def test_slurm_run_reproduces_the_local_run(slurm_run, tiny_run):
    """The same jobs, run through SLURM in one directory and locally in another, give the same bytes:
    every row of the SLURM run's tables is a row of the local tiny run's, and the GAN samples,
    GAN metrics and classifier metrics / predictions of the shared jobs are byte-identical."""
    import csv

    work, _, _ = slurm_run
    tiny, _ = tiny_run

    def rows(run: Path, table: str) -> list[tuple]:
        with open(run / "results" / "report" / table, newline="") as fh:
            return [tuple(sorted(r.items())) for r in csv.DictReader(fh)]

    for table in TABLES:
        header = (work / "results" / "report" / table).read_text().splitlines()[0].split(",")
        assert not [c for c in header if re.search(r"second|time|duration", c)], f"{table}: wall-time column {header}"
        slurm_rows, local_rows = rows(work, table), set(rows(tiny, table))
        assert slurm_rows, table
        differ = [dict(r) for r in slurm_rows if r not in local_rows]
        assert not differ, (table, differ)
    compared = []
    for pattern in ("results/gan/*/samples.npz", "results/metrics/gan/*/*.json",
                    "results/classifier/**/predictions.csv", "results/classifier/**/metrics.json"):
        for path in work.glob(pattern):
            rel = path.relative_to(work)
            assert (tiny / rel).read_bytes() == path.read_bytes(), rel
            compared.append(rel)
    # one GAN's samples, its metrics per class, two classifier runs' predictions and metrics
    assert len(compared) >= 7, compared
