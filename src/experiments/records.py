"""`<sweep>/<trial>/trial.yaml`: the sweep's own record of a trial, beside the trial's runs.

    name: trial-001
    params: {trainer.limit_train_batches: 2, trainer.val_check_interval: 3}
    state: failed            # running | finished | pruned | failed | interrupted | killed
    exit_code: 1
    error: 'ValueError: `val_check_interval` (3) must be less than or equal to ...'
    run_dir: trial-001/2026-12-01_06-19-16_1fd6    # relative to the sweep folder
    value: null              # the sweep metric's value
    attempts: 1              # starts of this trial: 1 + resumes
    duration_s: 8.3          # all attempts together
    started: '2026-12-01T06:19:16+00:00'
    ended: '2026-12-01T06:19:24+00:00'
    host: node01
    worker_pid: 4242         # the sweep process running it
    pid: 4250                # the trial process (the last attempt's)
    command: [python, -m, src, fit, ...]
    number: 1                # the Optuna trial (the last attempt's)

It is written by the worker that runs the trial and holds what a run directory cannot: the
values tried, the exit code and error of a trial that failed before its run had a directory.
"""

from pathlib import Path

import yaml

from src.files import DamagedFile, read_mapping, write_atomically
from src.runs.status import now  # noqa: F401 - the one timestamp format of run and trial records

FILENAME = "trial.yaml"
SWEEP_FILENAME = "sweep.yaml"


def read_record(trial_dir: Path) -> dict | None:
    return _read_yaml(Path(trial_dir) / FILENAME)


def write_record(trial_dir: Path, **fields) -> dict:
    """Merge `fields` into the trial's record and write it atomically."""
    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    record = {**(read_record(trial_dir) or {}), **fields}
    _write_yaml(trial_dir / FILENAME, record)
    return record


def write_sweep_file(folder: Path, info: dict) -> None:
    _write_yaml(Path(folder) / SWEEP_FILENAME, info)


def read_sweep_file(folder: Path) -> dict | None:
    return _read_yaml(Path(folder) / SWEEP_FILENAME)


def _write_yaml(path: Path, data: dict) -> None:
    write_atomically(path, yaml.safe_dump(data, sort_keys=False, width=100))


def _read_yaml(path: Path) -> dict | None:
    """The mapping in `path`, or None where it is missing or damaged (not text, YAML or a
    mapping): the sweep then treats the trial as one it has no record of."""
    try:
        return read_mapping(path)
    except DamagedFile:
        return None
