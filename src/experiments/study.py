"""A sweep as an Optuna study: every trial is queued up front and claimed atomically.

The first worker creates the study and queues one waiting trial per grid point or random draw
(values fixed) or per bayes trial (values left to TPE), each named `trial-000`... Workers only
ever claim queued trials (WAITING -> RUNNING is atomic in every Optuna storage), so any number of
them, on any number of machines, run each trial once and stop when the queue is empty: never
more trials than asked for.

A trial whose worker died (SIGKILL, a lost node) stays RUNNING in the storage; the next worker to
start marks it failed and queues a retry under the same name, which continues the same run
directory from its checkpoint. Two workers may both queue a retry of it: only the first queued
runs, the other is dropped as a duplicate when claimed.
"""

import contextlib
import json
import random
import time

import optuna
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from src.errors import SweepError
from src.experiments.liveness import owner_gone
from src.experiments.search import draw, encode
from src.experiments.spec import SweepSpec

RETRIED = ("interrupted", "killed")  # outcomes a re-run continues by itself
# A worker names itself on a trial (`worker`) within milliseconds of claiming it: a trial still
# unnamed after this long was claimed by a worker that died at once.
CLAIM_GRACE_S = 5.0


def open_study(
    spec: SweepSpec,
    storage: optuna.storages.BaseStorage,
    n_trials: int | None,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner | None,
    check=None,
    seed: int | None = None,
) -> optuna.Study:
    """Create the sweep's study and queue its trials, or load it (same definition) and queue
    any trials `n_trials` adds. `check()` runs before a new study is created and returns the
    metric (`{"name", "goal"}`) the trials report."""
    kwargs = {"study_name": spec.name, "storage": storage, "sampler": sampler, "pruner": pruner}
    if spec.name not in optuna.get_all_study_names(storage):
        n = _slots(spec, n_trials)  # before the check: the cheap mistakes first
        metric = check() if check else spec.metric
        try:
            study = optuna.create_study(direction=metric["goal"], **kwargs)
        except DuplicatedStudyError:  # another worker created it meanwhile
            pass
        else:
            study.set_user_attr("definition", spec.definition())
            study.set_user_attr("metric", metric)
            # a random search's draws, extended on a re-run, continue the same sequence
            study.set_user_attr("seed", seed if seed is not None else random.randrange(2**31))
            _queue(study, spec, n, start=0)
            return study
    study = optuna.load_study(**kwargs)
    slots = _wait_for(study, "slots")
    if study.user_attrs["definition"] != _plain(spec.definition()):
        raise SweepError(
            f"the sweep {spec.name!r} in this storage was started with another definition "
            "(parameters, metric or fit arguments): pass --name for a new sweep"
        )
    if spec.method != "grid" and n_trials and n_trials > slots:
        _queue(study, spec, n_trials, start=slots)
    return study


def claim(study: optuna.Study, lock=None) -> optuna.Trial | None:
    """Take a queued trial for this thread, or None when the queue is empty (holding `lock`,
    `storage.claim_lock`, where the storage's own claim is not atomic).

    What `Study.ask` does first, without its fallback of creating a trial when none is queued.
    """
    with lock or contextlib.nullcontext():
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            try:
                if study._storage.set_trial_state_values(frozen._trial_id, TrialState.RUNNING):
                    return optuna.Trial(study, frozen._trial_id)
            except UpdateFinishedTrialError:
                continue
    return None


def is_duplicate(study: optuna.Study, trial: optuna.Trial) -> bool:
    """A second queued copy of the same trial (two workers retried it at once): the lower
    number was queued first and is the one that runs."""
    key = (trial.user_attrs.get("name"), trial.user_attrs.get("retry_of"))
    return any(
        t.number < trial.number and (t.user_attrs.get("name"), t.user_attrs.get("retry_of")) == key
        for t in study.get_trials(deepcopy=False)
    )


def recover(study: optuna.Study, stale_after: float, retry_failed: bool, max_attempts: int):
    """Queue a retry of every trial whose worker is gone, that was interrupted, or (with
    `retry_failed`) that failed; return the retried trials' names."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    unnamed = [_age(t) for t in running if "worker" not in t.user_attrs]
    if unnamed and min(unnamed) < CLAIM_GRACE_S:  # claimed a moment ago: wait to judge it
        time.sleep(CLAIM_GRACE_S - min(unnamed) + 0.1)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in running:
        if is_stale(t, stale_after):
            try:
                study._storage.set_trial_user_attr(t._trial_id, "outcome", "killed")
                study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            except UpdateFinishedTrialError:
                pass  # another worker got there first
    retried = {t.user_attrs.get("retry_of") for t in study.get_trials(deepcopy=False)}
    names = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        outcome = t.user_attrs.get("outcome")
        wanted = outcome in RETRIED or (retry_failed and outcome == "failed")
        if not wanted or t.number in retried or t.user_attrs.get("attempt", 1) >= max_attempts:
            continue
        retry(study, t, resume=outcome in RETRIED)
        names.append(t.user_attrs["name"])
    return names


def retry(study: optuna.Study, trial: FrozenTrial, resume: bool) -> None:
    """Queue `trial` again with its values; `resume` continues its run from its checkpoint."""
    attrs = trial.user_attrs
    # its drawn values; a trial claimed and lost before it drew them has only its queued ones
    fixed = trial.system_attrs.get("fixed_params") or {}
    study.enqueue_trial(
        {**fixed, **{k: encode(v) for k, v in trial.params.items()}},
        user_attrs={"name": attrs["name"], "retry_of": trial.number, "resume": resume,
                    "attempt": attrs.get("attempt", 1) + 1},
    )  # fmt: skip


def is_stale(trial: FrozenTrial, stale_after: float) -> bool:
    """A RUNNING trial whose worker is gone: a dead process on this host, or no heartbeat."""
    worker = trial.user_attrs.get("worker")
    if worker is None:  # claimed, then the worker died before saying who it was
        return _age(trial) > CLAIM_GRACE_S
    if owner_gone(worker["host"], worker["pid"]):
        return True
    return time.time() - trial.user_attrs.get("heartbeat", 0) > stale_after


def _age(trial: FrozenTrial) -> float:
    """Seconds since the trial was claimed."""
    started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
    return time.time() - started


def _slots(spec: SweepSpec, n_trials: int | None) -> int:
    if spec.method == "grid":
        if n_trials:
            raise SweepError(f"a grid runs all its {len(spec.grid())} combinations: drop --trials")
        return len(spec.grid())
    n = n_trials or spec.run_cap
    if not n:
        raise SweepError(f"how many trials? a {spec.method} search needs --trials N or run_cap")
    return n


def _queue(study: optuna.Study, spec: SweepSpec, n: int, start: int) -> None:
    if spec.method == "grid":
        points = spec.grid()
    elif spec.method == "random":
        points = draw(spec.parameters, n, study.user_attrs["seed"])
    else:
        points = [{}] * n  # bayes: drawn when claimed, from the trials finished by then
    for i in range(start, n):
        params = {k: encode(v) for k, v in points[i].items()}
        study.enqueue_trial(params, user_attrs={"name": f"trial-{i:03d}", "attempt": 1})
    study.set_user_attr("slots", n)


def _wait_for(study: optuna.Study, key: str, timeout: float = 300):
    """The creator queues the trials before it sets `slots`: wait for it to finish doing so."""
    deadline = time.monotonic() + timeout
    while key not in study.user_attrs:
        if time.monotonic() > deadline:
            raise SweepError(
                f"the study {study.study_name!r} was never set up: delete it and rerun"
            )
        time.sleep(0.2)
    return study.user_attrs[key]


def _plain(value):
    """What a value reads back as from the storage (JSON): tuples become lists."""
    return json.loads(json.dumps(value))
