"""W&B's sweep vocabulary in Optuna's terms: parameters are suggestions, `method` a sampler,
`early_terminate` a pruner."""

import json
import os

import optuna

from src.errors import SweepError

_JSON = "json:"  # Optuna's categorical choices are scalars: lists and mappings travel as JSON


def suggest(trial: optuna.Trial, parameters: dict[str, dict]) -> dict:
    """The trial's value of every parameter: drawn by the sampler, or fixed by the queue."""
    params = {}
    for key, p in parameters.items():
        if "values" in p:
            choice = trial.suggest_categorical(key, [encode(v) for v in p["values"]])
            params[key] = decode(choice)
        elif p["distribution"] == "int_uniform":
            params[key] = trial.suggest_int(key, p["min"], p["max"])
        else:
            log = p["distribution"] == "log_uniform_values"
            params[key] = trial.suggest_float(key, p["min"], p["max"], step=p.get("q"), log=log)
    return params


def draw(parameters: dict[str, dict], n: int, seed: int) -> list[dict]:
    """`n` random draws: a random search is drawn when it is queued, so a seed gives the same
    trials however many workers run them, in whatever order."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [suggest(study.ask(), parameters) for _ in range(n)]


def encode(value):
    return _JSON + json.dumps(value) if isinstance(value, list | dict) else value


def decode(value):
    if isinstance(value, str) and value.startswith(_JSON):
        return json.loads(value[len(_JSON) :])
    return value


def make_sampler(method: str, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """bayes: TPE, which lies about running trials so parallel workers explore apart (each
    worker seeded apart, or they would propose the same first trials). Grid and random trials
    are queued with their values, so their sampler never draws."""
    if method == "bayes":
        worker_seed = None if seed is None else hash((seed, os.getpid())) % 2**31
        return optuna.samplers.TPESampler(seed=worker_seed, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(early_terminate: dict | None) -> optuna.pruners.BasePruner | None:
    """W&B's `hyperband`, or Optuna's `median` and `threshold`; steps are validation epochs.

    early_terminate: {type: hyperband, min_iter: 3}          # W&B's (also max_iter, eta, s)
    early_terminate: {type: median, min_iter: 2, startup_trials: 5}
    early_terminate: {type: threshold, lower: 0.5, min_iter: 1}   # or upper, for losses
    """
    if not early_terminate:
        return None
    if not isinstance(early_terminate, dict):
        raise SweepError(
            "early_terminate: expected a mapping such as {type: hyperband, min_iter: 3}"
        )
    e, kind = early_terminate, early_terminate.get("type")
    try:
        if kind == "hyperband":
            eta, max_iter, min_iter = e.get("eta", 3), e.get("max_iter"), e.get("min_iter")
            if min_iter is None and max_iter is None:
                raise SweepError("early_terminate hyperband needs min_iter or max_iter")
            if min_iter is None:
                min_iter = max(1, round(max_iter / eta ** e.get("s", 0)))
            return optuna.pruners.HyperbandPruner(
                min_resource=int(min_iter),
                max_resource=int(max_iter) if max_iter else "auto",
                reduction_factor=int(eta),
            )
        if kind == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=int(e.get("startup_trials", 5)),
                n_warmup_steps=int(e.get("min_iter", 0)),
            )
        if kind == "threshold":
            return optuna.pruners.ThresholdPruner(
                lower=e.get("lower"), upper=e.get("upper"), n_warmup_steps=int(e.get("min_iter", 0))
            )
    except (TypeError, ValueError) as error:
        if isinstance(error, SweepError):
            raise
        raise SweepError(f"early_terminate {kind}: {error}") from None
    raise SweepError(f"early_terminate type {kind!r}: use hyperband, median or threshold")
