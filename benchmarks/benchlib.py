"""Shared helpers of the benchmark scripts (fid_speed, dag_time, job_overhead, memory).

Not a benchmark itself: the machine header every table starts with, median (min-max)
formatting, running ``snakemake`` on the repository's Snakefile in a scratch directory,
and parsing Snakemake's run log for per-job wall times.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CHEST = SHARED_DATA / "chest_xray"
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))  # helpers.load_xrays, helpers.job_counts


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def load_avg() -> str:
    return "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())


def machine_lines(threads: int | None = None) -> list[str]:
    """Markdown bullet lines: machine, cores, date, torch, threads, device, load average."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"- machine: {cpu_model()}, {cores} cores, {_mem_gb():.0f} GB RAM, {platform.system()} {platform.release()}",
        f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- python {platform.python_version()}, torch {torch.__version__}"
        + (f", {threads} torch thread(s)" if threads else ""),
        f"- device: {device_name()}",
        f"- load average (1/5/15 min) at start: {load_avg()}",
    ]
    return lines


def _mem_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        return float("nan")


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)} (torch.cuda.is_available() = True)"
    return "CPU only (no CUDA)"


def default_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync(device) -> None:
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.cuda.synchronize()


def mmm(values, fmt: str = "{:.2f}") -> str:
    """``median (min-max)`` of ``values``."""
    v = list(values)
    return f"{fmt.format(statistics.median(v))} ({fmt.format(min(v))}-{fmt.format(max(v))})"


def fmt_s(seconds: float) -> str:
    if seconds >= 60:
        return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"
    return f"{seconds:.1f} s"


# ----------------------------------------------------------------------------- snakemake


def tiny_config(**updates) -> dict:
    """config/tiny.yaml with the chest X-ray path made absolute, top-level keys replaced by ``updates``."""
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["datasets"]["chest_xray"]["path"] = str(CHEST)
    cfg.update(updates)
    return cfg


def chest_xray_config() -> dict:
    """config/chest_xray.yaml with its path made absolute."""
    cfg = yaml.safe_load((REPO / "config" / "chest_xray.yaml").read_text())
    cfg["datasets"]["chest_xray"]["path"] = str(CHEST)
    return cfg


def write_yaml(path: Path, cfg: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake(
    workdir: Path,
    configfiles: list[Path],
    *args: str,
    target: str | list[str] = "all",
    snakefile: Path | None = None,
    check: bool = True,
    timeout: float = 7200,
):
    """Run ``python -m snakemake TARGET`` on the repo's Snakefile in ``workdir`` -> (CompletedProcess, wall seconds)."""
    targets = [target] if isinstance(target, str) else list(target)
    cmd = [sys.executable, "-m", "snakemake", *targets, "--snakefile", str(snakefile or REPO / "Snakefile"),
           "--directory", str(workdir)]  # fmt: skip
    if configfiles:
        cmd += ["--configfile", *map(str, configfiles)]
    cmd += list(args)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=workdir)
    wall = time.perf_counter() - t0
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc, wall


def job_counts(snakemake_output: str) -> dict[str, int]:
    """Rule -> number of jobs, from the ``Job stats`` table Snakemake prints."""
    if "Job stats:" not in snakemake_output:
        return {}
    table = snakemake_output.split("Job stats:", 1)[1]
    counts: dict[str, int] = {}
    for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M):
        if rule == "total":
            break
        counts[rule] = int(n)
    return counts


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")


def parse_job_times(log_text: str) -> list[dict]:
    """Per-job rule, wildcards, start / end / wall seconds from a Snakemake 9 run log (``.snakemake/log/*.snakemake.log``).

    A job starts at the ``[date]`` line before ``rule NAME:`` / ``localrule NAME:`` and ends at the
    ``[date]`` line before ``Finished jobid: N (Rule: NAME)``; the timestamps have 1 s resolution.
    """
    stamp = None
    pending = None
    current = None
    starts: dict[int, dict] = {}
    jobs = []
    for line in log_text.splitlines():
        s = line.strip()
        m = _STAMP.match(s)
        if m:
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
            continue
        m = re.match(r"^(?:local)?rule (\w+):$", s)
        if m:
            pending = {"rule": m.group(1), "start": stamp, "wildcards": {}}
            continue
        m = re.match(r"^jobid: (\d+)$", s)
        if m and pending is not None:
            starts[int(m.group(1))] = current = pending
            pending = None
            continue
        m = re.match(r"^wildcards: (.*)$", s)
        if m and current is not None:
            current["wildcards"] = dict(kv.split("=", 1) for kv in m.group(1).split(", ") if "=" in kv)
            continue
        m = re.match(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$", s)
        if m:
            jid = int(m.group(1))
            if jid in starts and stamp is not None:
                job = starts.pop(jid)
                jobs.append({"jobid": jid, **job, "end": stamp, "wall": (stamp - job["start"]).total_seconds()})
    return jobs


def latest_run_log(workdir: Path) -> str:
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    return logs[-1].read_text() if logs else ""


def per_rule_table(jobs: list[dict]) -> list[str]:
    """Markdown rows: rule, jobs, median (min-max) job wall, sum of job walls."""
    by_rule: dict[str, list[float]] = {}
    for j in jobs:
        by_rule.setdefault(j["rule"], []).append(j["wall"])
    rows = ["| rule | jobs | job wall s, median (min-max) | sum of job walls |", "|---|---|---|---|"]
    for rule, walls in sorted(by_rule.items(), key=lambda kv: -sum(kv[1])):
        rows.append(f"| {rule} | {len(walls)} | {mmm(walls, '{:.0f}')} | {fmt_s(sum(walls))} |")
    return rows
