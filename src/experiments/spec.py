"""A sweep's definition: W&B's sweep YAML, and grids and seeds given on the command line.

The YAML is W&B's schema, so `configs/sweeps/*.yaml` run both under `wandb agent` and here:

    method: grid                    # grid | random | bayes (`tpe` is bayes)
    metric: {name: val/acc_best, goal: maximize}
    parameters:                     # the CLI's dotted keys
      model.optimizer.lr: {values: [0.001, 0.003]}
      model.net.dropout: {distribution: uniform, min: 0.0, max: 0.5}
    early_terminate: {type: hyperband, min_iter: 3}   # pruning; also `median`, `threshold`
    run_cap: 20                     # trials of a random or bayes search
    command: [${env}, ${interpreter}, -m, ${program}, fit, --config, configs/digits.yaml, ${args}]
"""

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from src.errors import SweepError
from src.files import DamagedFile, read_mapping

METHODS = {"grid": "grid", "random": "random", "bayes": "bayes", "tpe": "bayes"}
SEED_KEY = "seed_everything"
# Options the sweep sets for every trial itself.
_RESERVED = ("--run.root", "--run.name", "--run.resume")
_SWEEP_KEYS = {"program", "command", "method", "metric", "parameters", "run_cap",
               "early_terminate", "name", "description", "project", "entity"}  # fmt: skip
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class SweepSpec:
    """What is swept: the fit arguments every trial shares and the parameters that vary.

    `parameters` maps each dotted key to `{"values": [...]}` or to a distribution
    `{"distribution": "uniform" | "int_uniform" | "log_uniform_values", "min", "max"[, "q"]}`.
    """

    name: str
    method: str
    parameters: dict[str, dict]
    fit_args: tuple[str, ...] = ()
    metric: dict | None = None  # {"name": ..., "goal": "maximize" | "minimize"}
    run_cap: int | None = None
    early_terminate: dict | None = None
    source: str | None = field(default=None, compare=False)

    def definition(self) -> dict:
        """What must not change while a sweep runs (its parameters, metric, shared arguments)."""
        return {
            "method": self.method,
            "metric": self.metric,
            "parameters": self.parameters,
            "fit_args": list(self.fit_args),
        }

    def grid(self) -> list[dict]:
        """Every combination of the parameters' values, the last key varying fastest."""
        keys = list(self.parameters)
        values = [_grid_values(key, self.parameters[key]) for key in keys]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def load_spec(
    path: str | Path | None = None,
    *,
    grid: dict[str, list] | None = None,
    seeds: int | list[int] | None = None,
    method: str | None = None,
    fit_args: list[str] | tuple[str, ...] = (),
    name: str | None = None,
) -> SweepSpec:
    """A sweep from a W&B sweep YAML and/or a grid and seeds; `fit_args` go to every trial."""
    raw = _read_yaml(path) if path else {}
    if unknown := set(raw) - _SWEEP_KEYS:
        raise SweepError(f"{path}: unknown sweep key(s) {sorted(unknown)}")
    parameters = _flatten(raw.get("parameters") or {})
    for key, values in (grid or {}).items():
        parameters[key] = {"values": values if isinstance(values, list) else [values]}
    if seeds is not None:
        if SEED_KEY in parameters:
            raise SweepError(f"--seeds and a `{SEED_KEY}` parameter both set the seed: keep one")
        parameters[SEED_KEY] = {"values": list(range(seeds)) if isinstance(seeds, int) else seeds}
    if not parameters:
        raise SweepError("nothing to sweep: give a sweep YAML, --grid KEY=VALUES or --seeds N")
    parameters = {key: _normalize(key, p) for key, p in parameters.items()}
    method = METHODS.get(method or raw.get("method") or "grid")
    if method is None:
        raise SweepError(
            f"unknown method {method or raw.get('method')!r}: use grid, random or bayes"
        )
    args = (*_command_args(raw, path), *fit_args)
    if reserved := [a for a in args if a.split("=", 1)[0] in _RESERVED]:
        raise SweepError(f"{reserved[0]} is set by the sweep for each trial: leave it out")
    spec = SweepSpec(
        name=name or "",
        method=method,
        parameters=parameters,
        fit_args=tuple(args),
        metric=_metric(raw.get("metric"), method),
        run_cap=raw.get("run_cap"),
        early_terminate=raw.get("early_terminate"),
        source=str(path) if path else None,
    )
    if method == "grid":
        spec.grid()  # every parameter must have values to combine
    default = Path(path).stem if path else f"{_experiment(args)}-{definition_hash(spec)[:8]}"
    return SweepSpec(**{**spec.__dict__, "name": name or default})


def definition_hash(spec: SweepSpec) -> str:
    text = json.dumps(spec.definition(), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def cli_args(params: dict) -> list[str]:
    """`{"model.optimizer.lr": 0.001}` -> `["--model.optimizer.lr=0.001"]` (W&B's `${args}`)."""
    return [f"--{key}={cli_value(value)}" for key, value in params.items()]


def cli_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def parse_grid_option(option: str) -> tuple[str, list]:
    """`--grid 'model.optimizer.lr=[1e-3, 3e-3]'` -> ("model.optimizer.lr", [0.001, 0.003])."""
    key, sep, text = option.partition("=")
    if not sep or not key.strip():
        raise SweepError(
            f"--grid {option!r}: write KEY=VALUES, e.g. 'model.optimizer.lr=[1e-3, 3e-3]'"
        )
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError:
        raise SweepError(f"--grid {option!r}: the values are not valid YAML") from None
    return key.strip().removeprefix("--"), values if isinstance(values, list) else [values]


def _read_yaml(path) -> dict:
    try:
        raw = read_mapping(path)
    except DamagedFile as error:
        raise SweepError(f"{error}: a sweep file is a mapping (method, metric, parameters...); "
                         "fix it") from None  # fmt: skip
    if raw is None:
        raise SweepError(f"the sweep file {path} does not exist")
    return raw


def _flatten(parameters: dict, prefix: str = "") -> dict[str, dict]:
    """W&B's nested parameters (`model: {parameters: {lr: ...}}`) -> dotted keys."""
    flat = {}
    for key, p in parameters.items():
        if not isinstance(p, dict):
            raise SweepError(
                f"parameter {prefix}{key}: expected a mapping such as {{values: [...]}}"
            )
        if "parameters" in p:
            flat.update(_flatten(p["parameters"], f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = p
    return flat


def _normalize(key: str, p: dict) -> dict:
    """One W&B parameter as `{"values": [...]}` or a distribution Optuna can sample."""
    kind = p.get("distribution")
    if "value" in p or kind == "constant":
        return {"values": [_number(p.get("value"))]}
    if "values" in p or kind == "categorical":
        if "probabilities" in p:
            raise SweepError(
                f"parameter {key}: `probabilities` is W&B-only; Optuna draws uniformly"
            )
        values = p.get("values")
        if not isinstance(values, list) or not values:
            raise SweepError(f"parameter {key}: `values` must be a non-empty list")
        return {"values": [_number(v) for v in values]}
    if "min" not in p or "max" not in p:
        raise SweepError(f"parameter {key}: give `values`, `value`, or `min` and `max`")
    low, high = _number(p["min"]), _number(p["max"])
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        raise SweepError(f"parameter {key}: `min` and `max` must be numbers")
    if kind is None:
        kind = "int_uniform" if isinstance(low, int) and isinstance(high, int) else "uniform"
    if kind == "log_uniform":  # W&B: min and max are natural-log exponents
        kind, low, high = "log_uniform_values", math.exp(low), math.exp(high)
    if kind == "q_uniform":
        return {"distribution": "uniform", "min": low, "max": high, "q": p.get("q", 1)}
    if kind not in ("int_uniform", "uniform", "log_uniform_values"):
        raise SweepError(
            f"parameter {key}: distribution {kind!r} has no Optuna equivalent; use values, "
            "int_uniform, uniform, q_uniform, log_uniform or log_uniform_values"
        )
    if not low < high or (kind == "log_uniform_values" and low <= 0):
        raise SweepError(f"parameter {key}: need min < max (and min > 0 for a log scale)")
    return {"distribution": kind, "min": low, "max": high}


def _grid_values(key: str, p: dict) -> list:
    if "values" in p:
        return p["values"]
    if p["distribution"] == "int_uniform":
        return list(range(p["min"], p["max"] + 1))
    if "q" in p:
        n = round((p["max"] - p["min"]) / p["q"])
        return [p["min"] + i * p["q"] for i in range(n + 1)]
    raise SweepError(f"parameter {key}: a grid needs `values` (or int_uniform / q_uniform)")


def _number(value):
    """YAML 1.1 reads `1e-3` as a string: a number written like one is a number."""
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)
    return value


def _metric(metric, method: str) -> dict | None:
    if metric is None:
        if method != "grid":
            raise SweepError(f"a {method} search needs `metric: {{name: ..., goal: ...}}`")
        return None  # a grid ranks its runs by their monitored metric
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise SweepError("`metric` needs a `name`: the logged metric to optimise, e.g. val/acc")
    goal = metric.get("goal", "minimize")
    if goal not in ("maximize", "minimize"):
        raise SweepError(f"metric goal {goal!r}: use maximize or minimize")
    return {"name": metric["name"], "goal": goal}


def _command_args(raw: dict, path) -> list[str]:
    """The fixed part of W&B's `command` (`fit --config configs/digits.yaml`), macros dropped."""
    command = raw.get("command")
    if command is None:
        return []
    if raw.get("program", "src") != "src" or not isinstance(command, list):
        raise SweepError(f"{path}: trials run `python -m src fit`: set `program: src`")
    args, tokens = [], [str(t) for t in command]
    for i, token in enumerate(tokens):
        if token in ("${env}", "${interpreter}", "${program}", "${args}"):
            continue
        if token.startswith("${"):
            raise SweepError(
                f"{path}: command macro {token} is not supported locally; use ${{args}}"
            )
        if token == "-m" and i + 1 < len(tokens) and tokens[i + 1] == "${program}":
            continue
        args.append(token)
    if args[:1] != ["fit"]:
        raise SweepError(f"{path}: the command must run `fit` (python -m src fit ...)")
    return args[1:]


def _experiment(args) -> str:
    """The experiment a sweep runs, named as `fit` names it: its first non-preset config."""
    args = list(args)
    for i, arg in enumerate(args):
        value = args[i + 1] if arg == "--config" and i + 1 < len(args) else None
        if arg.startswith("--config="):
            value = arg.split("=", 1)[1]
        if value and Path(value).parent.name != "presets":
            return Path(value).stem
    return "sweep"
