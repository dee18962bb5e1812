"""What a run directory says about its run: status, duration, best and test metrics, config.

Only files are read (config.yaml, status.yaml, summary.yaml, metrics.csv and, inside a sweep
folder, the sweep's trial.yaml records): no network, no W&B.
"""

import contextlib
import json
import math
import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from src.experiments.liveness import owner_gone
from src.experiments.records import read_record
from src.files import SUMMARY_SECTIONS, DamagedFile, read_mapping, read_table
from src.runs.status import check_status

# Keys that differ between any two runs without saying anything about them.
_BOOKKEEPING = ("run.name", "run.root", "run.resume", "trainer.default_root_dir",
                "checkpoint.dirpath", "trainer.logger", "ckpt_path", "config")  # fmt: skip


@dataclass
class RunInfo:
    name: str  # the trial's name, or the run directory relative to the compared folder
    run_dir: Path | None  # None: a trial that failed before its run had a directory
    status: str
    duration: float | None  # seconds
    best: dict[str, float]  # the monitored metric's best value
    test: dict[str, float]
    config: dict  # flat: `model.optimizer.lr`, `model.net` (the class name)...
    mode: str | None  # the monitored metric's mode, max or min
    record: dict | None  # the sweep's record of the trial


def read_run(run_dir: Path | None, name: str, record: dict | None = None) -> RunInfo:
    """What the run's files say; a file damaged by hand is left out with one warning."""
    run_dir = Path(run_dir) if run_dir else None
    config = _yaml(run_dir / "config.yaml") if run_dir else {}
    summary = _yaml(run_dir / "summary.yaml", SUMMARY_SECTIONS) if run_dir else {}
    best = {k: v for k, v in (summary.get("best") or {}).items() if _is_number(v)}
    test = {k: v for k, v in (summary.get("test") or {}).items() if _is_number(v)}
    status, damage = check_status(run_dir) if run_dir else (None, None)
    if damage:
        warnings.warn(f"{damage}: its status is left out", stacklevel=2)
    if run_dir and not best:  # no summary.yaml (or no RunSummary callback): from metrics.csv
        best, test = _metrics_from_csv(run_dir, config)
    flat = flat_config(config) if config else dict((record or {}).get("params") or {})
    return RunInfo(
        name=name,
        run_dir=run_dir,
        status=_status(status, record, summary, run_dir),
        duration=_duration(status, record, run_dir),
        best=best,
        test=test,
        config={k: v for k, v in flat.items() if not k.startswith(_BOOKKEEPING)},
        mode=(config.get("checkpoint") or {}).get("mode"),
        record=record,
    )


def find_runs(path: Path) -> list[RunInfo]:
    """Every run under `path`: a sweep folder's trials (their latest runs), run directories."""
    path, runs = Path(path), []
    for folder, dirs, files in os.walk(path):
        folder = Path(folder)
        if "sweep.yaml" in files:
            for trial_dir in sorted(d for d in folder.iterdir() if (d / "trial.yaml").is_file()):
                record = read_record(trial_dir) or {}
                rel = record.get("run_dir")  # gone if its run removed it (failed before a step)
                run_dir = folder / rel if rel and (folder / rel / "config.yaml").is_file() else None
                label = _label(trial_dir, path)
                runs.append(read_run(run_dir, label, record))
            dirs.clear()
        elif "config.yaml" in files and {"metrics.csv", "summary.yaml", "status.yaml"} & set(files):
            runs.append(read_run(folder, _label(folder, path)))
            dirs.clear()  # evaluations inside a run (`<run>/test/...`) are not runs of their own
        else:
            dirs.sort()
    return runs


def flat_config(node, prefix: str = "") -> dict:
    """Nested config -> dotted keys as on the command line: `init_args` dropped, a class named."""
    if isinstance(node, dict):
        flat = {}
        if "class_path" in node:
            flat[prefix] = str(node["class_path"]).rsplit(".", 1)[-1]
            node = node.get("init_args") or {}
        for key, value in node.items():
            flat.update(flat_config(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if (
        isinstance(node, list)
        and node
        and all(isinstance(n, dict) and "class_path" in n for n in node)
    ):
        # `trainer.callbacks: RunSummary, OptunaPruning`, and each one's arguments as keys
        flat = {prefix: ", ".join(str(n["class_path"]).rsplit(".", 1)[-1] for n in node)}
        for n in node:
            name = str(n["class_path"]).rsplit(".", 1)[-1]
            flat.update(flat_config(n.get("init_args") or {}, f"{prefix}.{name}"))
        return flat
    if isinstance(node, list):
        return {prefix: json.dumps(node)}
    return {prefix: node}


def metric_series(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    """(step, value) of every logged value of `metric` in the run's metrics.csv (a value or
    step that is no number, in a file edited by hand, is skipped)."""
    points = []
    for row in _csv_rows(run_dir):
        value = row.get(metric)
        if value in (None, ""):
            continue
        try:
            points.append((int(float(row.get("step") or 0)), float(value)))
        except ValueError:
            continue
    return points


def metric_value(run_dir: Path, metric: str) -> float | None:
    """The value a sweep ranks a run by: the best value of the monitored metric (summary.yaml),
    else the metric's last logged value, as W&B's sweeps do."""
    best = (_yaml(Path(run_dir) / "summary.yaml", SUMMARY_SECTIONS).get("best") or {}).get(metric)
    if _is_number(best):
        return float(best)
    series = metric_series(run_dir, metric)
    return series[-1][1] if series else None


def _status(status: dict | None, record: dict | None, summary: dict, run_dir) -> str:
    state = (record or {}).get("state")
    if state in ("pruned", "failed"):  # the sweep's verdict on a run that ended by itself
        return state
    if status:
        return status["status"]
    if state == "running" and owner_gone(record.get("host"), record.get("pid")):
        return "killed"
    if state:
        return state
    return "finished" if summary.get("best") else "incomplete"


def _duration(status: dict | None, record: dict | None, run_dir) -> float | None:
    if record and _is_number(record.get("duration_s")):
        return float(record["duration_s"])
    if status and status.get("started") and status.get("ended"):
        started, ended = (datetime.fromisoformat(status[k]) for k in ("started", "ended"))
        return (ended - started).total_seconds()
    if run_dir and (run_dir / "config.yaml").is_file():
        times = [p.stat().st_mtime for p in run_dir.iterdir() if p.is_file()]
        return max(times) - (run_dir / "config.yaml").stat().st_mtime
    return None


def _metrics_from_csv(run_dir: Path, config: dict) -> tuple[dict, dict]:
    checkpoint = config.get("checkpoint") or {}
    monitor, mode = checkpoint.get("monitor"), checkpoint.get("mode", "max")
    best = {}
    values = [v for _, v in metric_series(run_dir, monitor)] if monitor else []
    if values:
        best[monitor] = max(values) if mode == "max" else min(values)
    test = {}
    for row in _csv_rows(run_dir):
        for key, value in row.items():
            if str(key).startswith("test/") and value:
                with contextlib.suppress(ValueError):
                    test[key] = float(value)
    return best, test


def _csv_rows(run_dir: Path) -> list[dict]:
    rows, damage = read_table(Path(run_dir) / "metrics.csv", "step")
    if damage:  # its sound rows are still read
        warnings.warn(f"{damage}: rows that do not fit are left out", stacklevel=2)
    return rows


def _yaml(path: Path, sections: tuple[str, ...] = ()) -> dict:
    try:
        return read_mapping(path, sections) or {}
    except DamagedFile as error:
        warnings.warn(f"{error}: left out", stacklevel=2)
        return {}


def _label(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path != root else path.name


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
