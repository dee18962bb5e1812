"""Running a sweep: trial processes, `parallel` at a time, until the study's queue is empty.

Re-running the same command resumes: finished, pruned and failed trials are kept, trials whose
worker died or that were interrupted continue from their checkpoints, the rest run.
"""

import contextlib
import json
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from src.compare import compare_runs
from src.experiments.best_config import write_best_config
from src.experiments.dry_run import check_command_line
from src.experiments.liveness import HOST, pid_alive
from src.experiments.records import now, read_record, write_record, write_sweep_file
from src.experiments.run_info import metric_value
from src.experiments.search import make_pruner, make_sampler, suggest
from src.experiments.spec import SweepSpec, cli_args
from src.experiments.storage import OwnedFileLock, claim_lock, open_storage, storage_url
from src.experiments.study import claim, is_duplicate, open_study, recover
from src.experiments.table import Table
from src.experiments.trial import (
    PRUNING_ENV,
    Outcome,
    fit_command,
    resume_command,
    run_process,
    trial_env,
    visible_gpus,
)  # fmt: skip
from src.runs.status import read_status

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass
class SweepOptions:
    """How to run a sweep (none of it is part of the sweep's definition).

    Args:
        root: Folder of sweep folders: the sweep runs in `<root>/<spec.name>/`.
        parallel: Trials at a time on this machine (CPU threads split between them, one GPU
            each where there are GPUs).
        trials: Trials of a random or bayes search (default: the YAML's run_cap); raising it on a
            re-run adds trials.
        storage: The Optuna storage: a database URL or a file (default the sweep folder's
            `optuna.journal`). Workers sharing it share the sweep.
        threads: CPU threads per trial (default: this machine's cores / `parallel`).
        gpus: GPU ids handed out to trials (default: the visible ones; `[]` for none).
        seed: The sampler's seed.
        retry_failed: Also run failed trials again (after fixing what made them fail).
        max_attempts: Starts of one trial (1 + resumes) before it stays interrupted.
        stale_after: Seconds without a heartbeat after which another machine's running trial
            is taken as dead (a dead process on this machine is seen at once).
        echo: Print a line as each trial starts and ends.
    """

    root: str | Path = "logs/sweeps"
    parallel: int = 1
    trials: int | None = None
    storage: str | None = None
    threads: int | None = None
    gpus: list[str] | None = None
    seed: int | None = None
    retry_failed: bool = False
    max_attempts: int = 3
    stale_after: float = 600.0
    echo: bool = True


class SweepInterrupted(Exception):
    """The sweep process was asked to stop (SIGINT, SIGTERM); its trials saved checkpoints."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run_sweep(spec: SweepSpec, **options) -> Table:
    """Run (or resume) the sweep and return its table; also written into the sweep folder as
    `runs.csv`, `runs.md`, the monitored metric's curves (PNG) and `best.yaml`."""
    opts = SweepOptions(**options)
    folder = (Path(opts.root) / spec.name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    url = storage_url(opts.storage, folder)
    pruner = make_pruner(spec.early_terminate)
    # Workers starting together: one checks the command line and queues the trials, the others
    # wait for it, then join (a worker killed meanwhile leaves a lock the next one breaks).
    with OwnedFileLock(str(folder / ".setup"), grace_s=3600):
        study = open_study(
            spec, open_storage(url), opts.trials, make_sampler(spec.method, opts.seed), pruner,
            check=lambda: check_command_line(spec, pruning=pruner is not None), seed=opts.seed,
        )  # fmt: skip
        retried = recover(study, opts.stale_after, opts.retry_failed, opts.max_attempts)
    metric = study.user_attrs["metric"]
    write_sweep_file(folder, {"name": spec.name, "source": spec.source, "storage": url,
                              **spec.definition(), "metric": metric,
                              "early_terminate": spec.early_terminate})  # fmt: skip
    worker = _Worker(spec, opts, study, folder, url, metric, pruning=pruner is not None)
    for name in retried:
        worker.say(f"{name} did not finish: it runs again, from its checkpoint where it has one")
    worker.run()
    table = compare_runs(folder, out=folder)
    best = _best_trial(study)
    if best is not None and best.user_attrs.get("run_dir"):
        which = f"{best.user_attrs['name']}, {metric['name']} = {best.value:.6g}"
        run_dir = folder / best.user_attrs["run_dir"]
        note = f"Best trial of sweep {spec.name}: {which}"
        path = write_best_config(run_dir, folder / "best.yaml", note, f"{spec.name}-best")
        worker.say(f"best: {which}; its config: {path}")
    if worker.signum is not None:
        raise SweepInterrupted(worker.signum)
    return table


class _Worker:
    def __init__(self, spec, opts: SweepOptions, study, folder: Path, url: str, metric, pruning):
        self.spec, self.opts, self.study, self.folder = spec, opts, study, folder
        self.url, self.metric, self.pruning = url, metric, pruning
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        self.threads = opts.threads or max(1, (cpus or 1) // opts.parallel)
        self.gpus = visible_gpus() if opts.gpus is None else list(opts.gpus)
        self.lock = threading.Lock()
        self.claim_lock = claim_lock(url)
        self.running: dict[int, tuple[optuna.Trial, object]] = {}  # trial id -> (trial, process)
        self.stopping = threading.Event()
        self.signum: int | None = None

    def run(self) -> None:
        slots = [threading.Thread(target=self._slot, args=(i,)) for i in range(self.opts.parallel)]
        heartbeat = threading.Thread(target=self._heartbeat, daemon=True)
        main = threading.current_thread() is threading.main_thread()
        handlers = (
            {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
            if main
            else {}
        )
        try:
            for thread in (*slots, heartbeat):
                thread.start()
            while any(t.is_alive() for t in slots):
                for t in slots:
                    t.join(timeout=0.2)  # wakes up for signals
        finally:
            self.stopping.set()
            for s, handler in handlers.items():
                signal.signal(s, handler)

    def say(self, message: str) -> None:
        if self.opts.echo:
            print(f"[sweep {self.spec.name}] {message}", flush=True)

    def _slot(self, index: int) -> None:
        while not self.stopping.is_set():
            trial = claim(self.study, self.claim_lock)
            if trial is None:
                return
            # who runs it, at once: a worker dying now leaves a trial the next one can judge
            trial.set_user_attr("worker", {"host": HOST, "pid": os.getpid()})
            trial.set_user_attr("heartbeat", time.time())
            try:
                self._run(trial, index)
            except Exception as error:  # a bug or a storage failure: say it, go on with the rest
                traceback.print_exc()
                self._tell(trial, TrialState.FAIL, "failed")
                name = trial.user_attrs.get("name")
                if name:
                    write_record(self.folder / name, state="failed", error=repr(error), ended=now())
                self.say(f"{name} could not be run: {error!r}")

    def _run(self, trial: optuna.Trial, slot: int) -> None:
        name = trial.user_attrs["name"]
        if is_duplicate(self.study, trial):
            self._tell(trial, TrialState.FAIL, "duplicate")
            return
        params = suggest(trial, self.spec.parameters)
        trial_dir = self.folder / name
        record = read_record(trial_dir) or {}
        resume = self._resumable(record) if trial.user_attrs.get("resume") else None
        if resume and (read_status(resume) or {}).get("status") == "finished":
            # it ended, but its worker died before it could say so: take its result as it is
            self.say(f"{name} had finished in {resume}")
            self._finish(trial, trial_dir, Outcome("finished", 0, None, resume, 0.0))
            return
        if resume:
            command = resume_command(resume)
        else:
            args = cli_args(params)
            command = fit_command(self.spec.fit_args, args, self.folder, name, self.pruning)
        write_record(
            trial_dir, name=name, number=trial.number, params=params, state="running",
            exit_code=None, error=None, value=None, attempts=record.get("attempts", 0) + 1,
            started=record.get("started") if resume else now(), ended=None, host=HOST,
            worker_pid=os.getpid(), command=command,
            run_dir=record.get("run_dir") if resume else None,
            duration_s=record.get("duration_s", 0.0) if resume else 0.0,
        )  # fmt: skip
        args = " ".join(cli_args(params))
        self.say(f"{name} resumed from {resume}" if resume else f"{name} started: {args}")
        outcome = run_process(
            command, self._env(slot, trial), trial_dir / "output.log",
            on_start=lambda proc: self._started(trial, trial_dir, proc),
            on_run_dir=lambda run_dir: self._run_dir(trial, trial_dir, run_dir),
        )  # fmt: skip
        with self.lock:
            self.running.pop(trial._trial_id, None)
        if outcome.run_dir is None and resume:  # a resume prints no directory when done already
            outcome.run_dir = resume
        self._finish(trial, trial_dir, outcome)

    def _finish(self, trial, trial_dir: Path, outcome) -> None:
        name, metric = trial.user_attrs["name"], self.metric["name"]
        state, error, value = outcome.state, outcome.error, None
        if state == "failed" and self.signum is not None:
            state = "interrupted"  # it was stopped by the signal passed on to it
        if state == "finished":
            value = metric_value(outcome.run_dir, metric) if outcome.run_dir else None
            if self._was_pruned(trial):
                state = "pruned"
                self._tell(trial, TrialState.PRUNED, "pruned")
            elif value is None:
                state, error = "failed", f"{metric} was never logged: check the sweep's metric"
                self._tell(trial, TrialState.FAIL, "failed")
            else:
                self._tell(trial, TrialState.COMPLETE, "finished", value)
        else:
            self._tell(trial, TrialState.FAIL, state)
        record = read_record(trial_dir) or {}
        duration = record.get("duration_s", 0.0) + outcome.duration
        write_record(trial_dir, state=state, exit_code=outcome.exit_code, error=error, value=value,
                     ended=now(), duration_s=duration)  # fmt: skip
        took = f"in {outcome.duration:.1f} s"
        if state in ("finished", "pruned"):
            shown = f": {metric} = {value:.4g}" if value is not None else ""
            self.say(f"{name} {state} {took}{shown}")
        else:
            log = trial_dir / "output.log"
            self.say(f"{name} {state} (exit {outcome.exit_code}) {took}: {error} [log: {log}]")

    def _was_pruned(self, trial) -> bool:
        """Whether its run was stopped by the pruner: in this attempt, or in the one it
        continues (a worker that died before recording it)."""
        attempts = {trial.number, trial.user_attrs.get("retry_of")}
        return any(
            "pruned_at_epoch" in t.user_attrs
            for t in self.study.get_trials(deepcopy=False)
            if t.number in attempts
        )

    def _tell(self, trial, state: TrialState, outcome: str, value: float | None = None) -> None:
        try:
            trial.set_user_attr("outcome", outcome)
            self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        except UpdateFinishedTrialError:  # another worker declared it dead meanwhile
            pass

    def _started(self, trial, trial_dir: Path, proc) -> None:
        with self.lock:
            self.running[trial._trial_id] = (trial, proc)
        write_record(trial_dir, pid=proc.pid)
        if self.stopping.is_set() and self.signum is not None:
            _signal_group(proc, self.signum)  # started as the stop came: stop it too

    def _run_dir(self, trial, trial_dir: Path, run_dir: Path) -> None:
        relative = os.path.relpath(run_dir, self.folder)
        write_record(trial_dir, run_dir=relative)
        trial.set_user_attr("run_dir", relative)

    def _resumable(self, record: dict) -> Path | None:
        """The previous attempt's run directory, if it left a checkpoint to continue from."""
        if not record.get("run_dir"):
            return None
        if record.get("host") == HOST:  # its process may still be saving (SIGTERM by PDEATHSIG)
            deadline = time.monotonic() + 120
            while pid_alive(record.get("pid")) and time.monotonic() < deadline:
                time.sleep(0.2)
        run_dir = self.folder / record["run_dir"]
        return run_dir if (run_dir / "checkpoints" / "last.ckpt").is_file() else None

    def _env(self, slot: int, trial) -> dict[str, str]:
        extra = {}
        if self.pruning:
            extra[PRUNING_ENV] = json.dumps({
                "storage": self.url, "study": self.spec.name, "trial_id": trial._trial_id,
                "metric": self.metric["name"], "early_terminate": self.spec.early_terminate,
            })  # fmt: skip
        return trial_env(slot, self.threads, self.gpus, extra)

    def _heartbeat(self) -> None:
        every = max(1.0, min(60.0, self.opts.stale_after / 4))
        while not self.stopping.wait(every):
            with self.lock:
                trials = [trial for trial, _ in self.running.values()]
            for trial in trials:
                with contextlib.suppress(UpdateFinishedTrialError):
                    trial.set_user_attr("heartbeat", time.time())

    def _on_signal(self, signum, frame) -> None:
        first = self.signum is None
        self.signum = signum
        self.stopping.set()
        with self.lock:
            procs = [proc for _, proc in self.running.values()]
        for proc in procs:
            _signal_group(proc, signum)
        if first:
            self.say(f"{signal.Signals(signum).name}: stopping {len(procs)} running trial(s); "
                     "run the same command again to resume")  # fmt: skip


def _signal_group(proc, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def _best_trial(study: optuna.Study):
    try:
        return study.best_trial
    except ValueError:  # no trial completed
        return None
