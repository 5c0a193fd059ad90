"""The workflow on a real SLURM cluster through profiles/slurm (snakemake-executor-plugin-slurm).

The cluster is Debian's slurm-wlm on this machine, one node, started by tests/slurm_cluster.py
(apt-get installs it when missing; a machine where that is impossible fails the test with the
reason). The micro sub-sweep of the tiny config (helpers.micro_config) runs through
`--workflow-profile profiles/slurm`. Every one of its jobs is also a job of the local tiny run
(conftest.tiny_run: same rule, params and inputs, another directory), so the SLURM run's table
rows and per-job results must equal the tiny run's byte for byte - which also checks that the
pipeline is deterministic on the CPU, without paying for a second local run.

Requeue and resume: a GAN job with a longer schedule is requeued with `scontrol requeue` while
it runs (after its first checkpoint); SLURM kills it and starts the same job again, which
resumes from train_state/ and must end with the weights and losses of an uninterrupted local run.
"""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from helpers import MICRO_GAN, REPO, job_counts, micro_config, snakemake, snakemake_cmd, write_config

# with pytest-xdist the SLURM tests share one worker (one private cluster), beside the tiny-run group
pytestmark = pytest.mark.xdist_group("slurm")

PROFILE = REPO / "profiles" / "slurm"
# Without an accounting daemon (slurmdbd) there is no sacct history: poll squeue, submit without
# an account. Keep successful jobs' SLURM logs (the plugin deletes them by default) to check them.
CLUSTER_ARGS = (
    "--workflow-profile",
    str(PROFILE),
    "--slurm-status-command",
    "squeue",
    "--slurm-no-account",
    "--slurm-keep-successful-logs",
    "--slurm-init-seconds-before-status-checks",
    "1",
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
    return [(p.relative_to(work / ".snakemake" / "slurm_logs").parts[0][len("rule_") :], p.stem, p) for p in logs]


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
    for pattern in (
        "results/gan/*/rep*/samples.npz",
        "results/metrics/gan/*/rep*/*.json",
        "results/classifier/**/predictions.csv",
        "results/classifier/**/metrics.json",
    ):
        for path in work.glob(pattern):
            rel = path.relative_to(work)
            assert (tiny / rel).read_bytes() == path.read_bytes(), rel
            compared.append(rel)
    # one GAN's samples, its metrics per class, two classifier runs' predictions and metrics
    assert len(compared) >= 7, compared


# ----------------------------------------------------------------------------- requeue and resume
REQUEUE_STEPS, REQUEUE_EVERY = 400, 40


def requeue_config() -> dict:
    """The micro config with a longer GAN schedule, so a checkpoint exists while the job still runs."""
    cfg = micro_config()
    cfg["gans"][MICRO_GAN] = dict(cfg["gans"][MICRO_GAN], steps=REQUEUE_STEPS, sample_every=REQUEUE_EVERY)
    return cfg


def _wait(predicate, timeout: float, what: str, proc=None, poll: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"snakemake ended ({proc.returncode}) while waiting for {what}:\n{out[-3000:]}\n{err[-6000:]}")
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.slow
@pytest.mark.slurm
def test_requeued_gan_job_resumes_to_the_same_weights(slurm_cluster, tmp_path, shared_data):
    """`scontrol requeue` of a running GAN job: SLURM kills it mid-training and starts it again;
    the second run resumes from the last checkpoint in train_state/ and ends with the same G, D
    and EMA weights and losses as the same job run locally without interruption."""
    import subprocess

    import torch

    from ganaug.io import torch_load

    target = f"results/gan/{MICRO_GAN}/rep0/conditional/checkpoint.pt"
    work = tmp_path / "requeued"
    work.mkdir()
    write_config(work, requeue_config(), "micro.yaml")
    cmd = snakemake_cmd(work, *CLUSTER_ARGS, configfile="micro.yaml", targets=(target,))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(slurm_cluster.env, PYTHONUNBUFFERED="1"))  # fmt: skip
    try:
        job_id = _wait(
            lambda: next((j for r, j, _ in slurm_jobs(work) if r == "train_gan"), None), 300, "the train_gan job", proc
        )
        state_dir = work / "results" / "gan" / MICRO_GAN / "rep0" / "conditional" / "train_state"
        first = state_dir / f"g_step{REQUEUE_EVERY:06d}.pt"
        _wait(first.exists, 300, f"{first.name} (the first checkpoint of the running job)", proc)
        assert slurm_cluster.scontrol_job(job_id)["JobState"] == "RUNNING"
        requeue = subprocess.run(["scontrol", "requeue", job_id], env=slurm_cluster.env, capture_output=True, text=True)
        assert requeue.returncode == 0, requeue.stderr
        # a requeued job waits (BeginTime) before it may start again; let it start now
        _wait(lambda: slurm_cluster.scontrol_job(job_id)["JobState"] == "PENDING", 60, "the requeued job to be PENDING")
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], env=slurm_cluster.env, check=True)
        out, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, f"{out[-3000:]}\n{err[-6000:]}\n{slurm_cluster.logs()}"
    info = slurm_cluster.scontrol_job(job_id)
    assert info["Restarts"] == "1" and info["JobState"] == "COMPLETED", info
    assert [j for r, j, _ in slurm_jobs(work) if r == "train_gan"] == [job_id]  # the same job, not a resubmission
    log = (work / "results" / "logs" / "train_gan" / MICRO_GAN / "rep0" / "conditional.log").read_text()
    resumed = re.search(r"resuming from \S*train_state/state\.pt at step (\d+) of (\d+)", log)
    assert resumed, log[-3000:]
    step = int(resumed.group(1))
    assert REQUEUE_EVERY <= step < REQUEUE_STEPS and step % REQUEUE_EVERY == 0, step
    print(f"SLURM job {job_id} requeued (Restarts {info['Restarts']}); resumed at step {step} of {REQUEUE_STEPS}")

    # the same job locally, uninterrupted
    ref = tmp_path / "uninterrupted"
    ref.mkdir()
    write_config(ref, requeue_config(), "micro.yaml")
    snakemake(ref, "--cores", "2", configfile="micro.yaml", targets=(target,))
    resumed_ckpt, ref_ckpt = torch_load(work / target), torch_load(ref / target)
    for part in ("G", "D", "G_ema"):  # the micro GAN trains with an EMA
        assert resumed_ckpt[part].keys() == ref_ckpt[part].keys(), part
        for k, v in ref_ckpt[part].items():
            assert torch.equal(resumed_ckpt[part][k], v), (part, k)
    losses = f"results/gan/{MICRO_GAN}/rep0/conditional/losses.csv"
    assert (work / losses).read_bytes() == (ref / losses).read_bytes()
