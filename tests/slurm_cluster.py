"""A private single-node SLURM cluster for the tests (Debian's slurm-wlm + munge, run as root).

Everything lives in one temporary directory: its own munged (own key and socket), its own
``slurm.conf`` / ``gres.conf`` on free ports, state, spool, pid and log files. Nothing under
``/etc`` is written, so a system SLURM or another test session's cluster is left alone.
Client commands (sbatch, squeue, srun, scontrol) find the cluster through ``SLURM_CONF``,
which :attr:`SlurmCluster.env` sets; jobs inherit it (the plugin submits with ``--export=ALL``).

The node advertises one GPU backed by ``/dev/null`` (``gres.conf``), so ``--gpus=1`` jobs
schedule on a machine without one; SLURM then sets ``CUDA_VISIBLE_DEVICES=0`` in the job
(and torch, finding no CUDA device, runs on the CPU).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
BINARIES = (
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "sinfo",
    "srun",
    "scontrol",
    "scancel",
    "munged",
    "munge",
    "unmunge",
)
# The partitions the workflow profile names (profiles/slurm/config.yaml): CPU jobs go to
# `cpu`, the GPU rules to `gpu`. Both are the same node here.
PARTITIONS = ("cpu", "gpu")


class ClusterError(RuntimeError):
    """The cluster could not be installed or started; the message says why."""


def _run(cmd: list[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return f"({path} unreadable)"


def ensure_installed() -> None:
    """apt-get install slurm-wlm and munge unless their binaries are already there."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise ClusterError(
            f"SLURM binaries missing ({', '.join(missing)}) and not root, so cannot apt-get install {' '.join(PACKAGES)}"
        )
    if shutil.which("apt-get") is None:
        raise ClusterError(
            f"SLURM binaries missing ({', '.join(missing)}) and no apt-get to install {' '.join(PACKAGES)}"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # wait for another apt/dpkg (a concurrent test session) instead of failing on its lock
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    install = ["apt-get", *lock, "install", "-y", "--no-install-recommends", *PACKAGES]
    proc = _run(install, timeout=900, env=env)
    if proc.returncode != 0:  # stale or missing package lists: update once, then retry
        update = _run(["apt-get", *lock, "update"], timeout=600, env=env)
        proc = _run(install, timeout=900, env=env)
        if proc.returncode != 0:
            raise ClusterError(
                f"`{' '.join(install)}` failed ({proc.returncode}) after apt-get update ({update.returncode}):\n"
                f"{update.stderr[-1500:]}\n{proc.stdout[-1500:]}\n{proc.stderr[-3000:]}"
            )
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        raise ClusterError(f"{' '.join(PACKAGES)} installed but {', '.join(missing)} still not on PATH")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb() -> int:
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20)


class SlurmCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (idempotent; stops only what it started)."""

    def __init__(self, root: Path | None = None, real_memory_mb: int | None = None):
        # /tmp rather than pytest's tmp dirs: those are root-only (0700), and munged runs as `munge`.
        self.root = Path(root or tempfile.mkdtemp(prefix="ganaug-slurm-"))
        self.root.chmod(0o755)
        self.node = socket.gethostname().split(".")[0]
        self.cpus = os.cpu_count() or 1
        # Declared, not measured: SlurmdParameters=config_overrides lets the node advertise
        # enough memory for the profile's mem_mb requests on a small machine.
        self.real_memory_mb = real_memory_mb or max(_mem_mb(), 64000)
        self.conf = self.root / "slurm.conf"
        self.munge_dir = self.root / "munge"
        self.munge_socket = self.munge_dir / "munge.socket"
        self.procs: dict[str, subprocess.Popen] = {}
        # snakemake-executor-plugin-slurm-jobstep (0.6.1) strips SLURM_* but a few job ids from
        # the environment of the `srun` it runs inside each job, SLURM_CONF included; a real
        # cluster's srun reads /etc/slurm/slurm.conf, this private one's would find nothing.
        # A two-line `srun` first on PATH puts SLURM_CONF back, leaving /etc alone.
        self.bin = self.root / "bin"
        self.env = dict(
            os.environ, SLURM_CONF=str(self.conf), PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"
        )
        for var in [
            v for v in self.env if v.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_")) and v != "SLURM_CONF"
        ]:
            del self.env[var]

    # ------------------------------------------------------------------ config
    def write_config(self) -> None:
        for sub in ("state", "spool", "log"):
            (self.root / sub).mkdir(exist_ok=True)
        ctld_port, slurmd_port = _free_port(), _free_port()
        r = self.root
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=ganaugtest",
                    f"SlurmctldHost={self.node}(127.0.0.1)",
                    f"SlurmctldPort={ctld_port}",
                    f"SlurmdPort={slurmd_port}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={self.munge_socket}",
                    f"StateSaveLocation={r / 'state'}",
                    f"SlurmdSpoolDir={r / 'spool'}",
                    f"SlurmctldPidFile={r / 'slurmctld.pid'}",
                    f"SlurmdPidFile={r / 'slurmd.pid'}",
                    f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "SchedulerType=sched/backfill",
                    "AccountingStorageType=accounting_storage/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "JobCompType=jobcomp/none",
                    "MpiDefault=none",
                    "MinJobAge=3600",  # finished jobs stay visible to squeue / scontrol for the checks
                    "ReturnToService=2",
                    "SlurmdParameters=config_overrides",
                    "GresTypes=gpu",
                    f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.real_memory_mb} "
                    "Gres=gpu:1 State=UNKNOWN",
                    f"PartitionName={PARTITIONS[0]} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
                    *(f"PartitionName={p} Nodes={self.node} MaxTime=INFINITE State=UP" for p in PARTITIONS[1:]),
                    "",
                ]
            )
        )
        self.bin.mkdir(exist_ok=True)
        real_srun = shutil.which("srun")
        wrapper = self.bin / "srun"
        wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{real_srun}" "$@"\n')
        wrapper.chmod(0o755)
        # A GPU "device" that is /dev/null: lets GPU jobs schedule on a machine without one.
        (self.root / "gres.conf").write_text(f"NodeName={self.node} Name=gpu File=/dev/null\n")

    # ------------------------------------------------------------------ daemons
    def _spawn(self, name: str, cmd: list[str], **kwargs) -> None:
        log = open(self.root / "log" / f"{name}.out", "w")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env, **kwargs
        )
        log.close()

    def _check_alive(self, name: str, logfile: Path) -> None:
        proc = self.procs[name]
        if proc.poll() is not None:
            raise ClusterError(
                f"{name} exited ({proc.returncode}) right after start:\n{_tail(self.root / 'log' / f'{name}.out')}\n"
                f"{_tail(logfile)}"
            )

    def start_munge(self) -> None:
        import pwd

        try:
            munge = pwd.getpwnam("munge")
        except KeyError:
            raise ClusterError("no `munge` user: the munge package did not install correctly") from None
        self.munge_dir.mkdir(exist_ok=True)
        self.munge_dir.chmod(0o711)  # munged: the socket's directory must be searchable by all
        key = self.munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for path in (self.munge_dir, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={self.munge_dir / 'munged.pid'}",
                f"--log-file={self.munge_dir / 'munged.log'}",
                f"--seed-file={self.munge_dir / 'munged.seed'}",
            ],
            user=munge.pw_uid,
            group=munge.pw_gid,
            extra_groups=[],
        )
        deadline = time.monotonic() + 20
        while not self.munge_socket.exists():
            self._check_alive("munged", self.munge_dir / "munged.log")
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"munged did not create {self.munge_socket} in 20 s:\n{_tail(self.munge_dir / 'munged.log')}"
                )
            time.sleep(0.1)
        cred = _run(["munge", "-n", f"--socket={self.munge_socket}"])
        check = _run(["unmunge", f"--socket={self.munge_socket}"], input=cred.stdout)
        if cred.returncode or check.returncode:
            raise ClusterError(f"munge round trip failed: {cred.stderr} {check.stderr}")

    def start(self, timeout: float = 60) -> SlurmCluster:
        if os.geteuid() != 0:
            raise ClusterError(
                "the test SLURM cluster runs its daemons as root (SlurmUser=root); run the tests as root"
            )
        ensure_installed()
        self.write_config()
        self.start_munge()
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            self._check_alive("slurmctld", self.root / "log" / "slurmctld.log")
            self._check_alive("slurmd", self.root / "log" / "slurmd.log")
            proc = _run(["sinfo", "-h", "-N", "-o", "%t"], env=self.env, timeout=20)
            state = proc.stdout.strip() + proc.stderr.strip()
            if proc.returncode == 0 and state and all(s.rstrip("*") in ("idle", "mix", "alloc") for s in state.split()):
                return self
            time.sleep(0.5)
        raise ClusterError(
            f"SLURM node {self.node} not idle after {timeout:.0f} s (sinfo: {state!r}):\n"
            f"slurmctld: {_tail(self.root / 'log' / 'slurmctld.log')}\nslurmd: {_tail(self.root / 'log' / 'slurmd.log')}"
        )

    def scontrol_job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job -o ID`` as key → value (finished jobs stay listed for MinJobAge = 3600 s)."""
        proc = _run(["scontrol", "show", "job", "-o", "-d", str(job_id)], env=self.env)
        if proc.returncode:
            raise ClusterError(f"scontrol show job {job_id}: {proc.stderr.strip()}")
        out: dict[str, str] = {}
        for token in proc.stdout.split():
            if "=" in token:
                k, v = token.split("=", 1)
                out.setdefault(k, v)
        return out

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{_tail(p)}" for p in sorted((self.root / "log").glob("*")) if p.is_file())

    def stop(self) -> None:
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            jobs = _run(["squeue", "-h", "-o", "%i"], env=self.env).stdout.split()
            if jobs:
                _run(["scancel", *jobs], env=self.env)
        for name in ("slurmd", "slurmctld", "munged"):  # the order they depend on each other
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":  # manual check: python3 tests/slurm_cluster.py
    with SlurmCluster() as cluster:
        print("cluster up in", cluster.root)
        out = _run(
            [
                "sbatch",
                "--parsable",
                "--wait",
                "-p",
                "gpu",
                "--gpus=1",
                "-o",
                str(cluster.root / "job.out"),
                "--wrap",
                "env | grep -E '^(CUDA_VISIBLE_DEVICES|SLURM_JOB_ID|SLURM_JOB_GPUS)='",
            ],
            env=cluster.env,
        )
        print(out.stdout, out.stderr, (cluster.root / "job.out").read_text())
