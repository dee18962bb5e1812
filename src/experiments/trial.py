"""One trial process: `python -m src fit ...` with its share of the machine, its output logged.

Each trial is an ordinary run: `--run.root <sweep folder> --run.name <trial>` puts its run
directory at `<sweep folder>/<trial>/<date>_<time>_<id>/`, and `--run.resume <run dir>`
continues it after an interruption.
"""

import collections
import contextlib
import ctypes
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from src.experiments.records import now
from src.runs.status import read_status

_RUN_DIR = re.compile(r"^Run directory: (.+)$")
# What the launcher of the sweep process set for *it* (torchrun, srun with several tasks): a trial
# is a job of its own, or Lightning would wait for DDP peers that never come.
_SCRUB = ("LIGHTNING_RESEARCH_RUN_DIR", "LOCAL_RANK", "RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
          "NODE_RANK", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID",
          "SLURM_NTASKS")  # fmt: skip
# Ended by a signal (SIGINT 130, SIGTERM 143, SIGKILL 137, or the signal itself): resumable.
_SIGNALLED = {130, 137, 143}
_STOPPED = ("interrupted", "preempted", "killed")  # status.yaml: the run was stopped, not broken
# What Lightning prints when SIGTERM (it then exits 0) or Ctrl-C (exit 1) stops a fit.
_STOP_MARKERS = ("Received SIGTERM:", "Detected KeyboardInterrupt, attempting graceful shutdown")
# Set for each trial of a sweep with pruning: where its Optuna study lives and which trial it is
# (JSON: storage, study, trial_id, metric, early_terminate), read by `pruning.OptunaPruning`.
PRUNING_ENV = "LIGHTNING_RESEARCH_OPTUNA_TRIAL"


@dataclass
class Outcome:
    state: str  # finished | failed | interrupted
    exit_code: int
    error: str | None
    run_dir: Path | None
    duration: float


def fit_command(fit_args, param_args, folder: Path, name: str, pruning: bool) -> list[str]:
    callbacks = ["--trainer.callbacks+=src.experiments.pruning.OptunaPruning"] if pruning else []
    return [sys.executable, "-m", "src", "fit", *fit_args, *param_args, *callbacks,
            "--run.root", str(folder), "--run.name", name]  # fmt: skip


def resume_command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "src", "fit", "--run.resume", str(run_dir)]


def trial_env(slot: int, threads: int, gpus: list[str], extra: dict[str, str]) -> dict[str, str]:
    """Trial `slot`'s environment: its CPU threads and, where there are GPUs, one GPU."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    env.pop(PRUNING_ENV, None)
    return {**env, **extra}


def visible_gpus() -> list[str]:
    """The GPUs trials may use: CUDA_VISIBLE_DEVICES (SLURM sets it), else what nvidia-smi lists.

    Asked without importing torch, which would cost the sweep process seconds.
    """
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        ids = [d.strip() for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",")]
        return [d for d in ids if d and not d.startswith("-")]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


def run_process(command, env, log_path: Path, on_start, on_run_dir) -> Outcome:
    """Run one trial process to its end: output appended to `log_path`, its run directory
    reported through `on_run_dir` as soon as it prints it, the way it ended classified."""
    start = time.monotonic()
    tail: collections.deque[str] = collections.deque(maxlen=200)
    run_dir = None
    with open(log_path, "a", buffering=1) as log:
        log.write(f"=== {now()} {shlex.join(command)}\n")
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
            errors="replace", start_new_session=True, preexec_fn=_DIE_WITH_PARENT,
        )  # fmt: skip
        on_start(proc)
        for line in proc.stdout:
            log.write(line)
            tail.append(line.rstrip("\n"))
            match = _RUN_DIR.match(line.strip())
            if match and run_dir is None:
                run_dir = Path(match.group(1))
                on_run_dir(run_dir)
        code = proc.wait()
    status = (read_status(run_dir) if run_dir else None) or {}
    signalled = any(marker in line for line in list(tail)[-50:] for marker in _STOP_MARKERS)
    stopped = status.get("status") in _STOPPED or signalled or code < 0 or code in _SIGNALLED
    if status.get("status") == "finished" or (code == 0 and not stopped):
        return Outcome("finished", 0, None, run_dir, time.monotonic() - start)
    error = status.get("error") or (_stopped_by(status, code) if stopped else None)
    error = error or error_line(list(tail), code)
    state = "interrupted" if stopped else "failed"
    return Outcome(state, code, error, run_dir, time.monotonic() - start)


def _stopped_by(status: dict, code: int) -> str | None:
    """`stopped by SIGTERM`: the signal the run's record names, or its exit code 128 + n."""
    name = status.get("signal")
    if name is None and (code < 0 or code > 128):
        with contextlib.suppress(ValueError):
            name = signal.Signals(-code if code < 0 else code - 128).name
    return f"stopped by {name}" if name else None


def error_line(lines: list[str], code: int) -> str:
    """The line that says why a trial failed: its `error:` line, else its exception's line."""
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call")]
    if starts:
        after = [ln for ln in lines[starts[-1] + 1 :] if ln.strip() and not ln[0].isspace()]
        if after:
            return after[-1]
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    last = [ln for ln in lines if ln.strip()]
    return last[-1] if last else f"exit code {code}"


def _parent_death_signal():
    """A trial gets SIGTERM (save a checkpoint, stop) when its sweep process dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


_DIE_WITH_PARENT = _parent_death_signal()
