"""Sweep definitions, the study's queue, the lock and the table: in-process, no training."""

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
import yaml

from src.compare import main as compare_main
from src.experiments.liveness import HOST
from src.experiments.run_info import find_runs
from src.experiments.search import draw, make_pruner, suggest
from src.experiments.spec import cli_args, load_spec
from src.experiments.storage import OwnedFileLock, claim_lock, open_storage, storage_url
from src.experiments.study import claim, is_duplicate, open_study, recover
from src.experiments.table import build_table
from src.experiments.trial import error_line, trial_env
from src.sweep import main as sweep_main

METRIC = {"name": "val/acc", "goal": "maximize"}


@pytest.mark.parametrize(
    "path", sorted(Path("configs/sweeps").glob("*.yaml")), ids=lambda p: p.stem
)
def test_the_wandb_sweep_files_run_locally_as_they_are(path):
    spec = load_spec(path)
    raw = yaml.safe_load(path.read_text())
    assert spec.name == path.stem and spec.method == raw["method"]
    assert spec.fit_args == ("--config", "configs/digits.yaml")  # W&B's `command`, macros dropped
    assert spec.metric == {"name": "val/acc_best", "goal": "maximize"}
    assert set(spec.parameters) == set(raw["parameters"])
    assert spec.run_cap == raw["run_cap"]
    if "early_terminate" in raw:
        pruner = make_pruner(spec.early_terminate)
        assert isinstance(pruner, optuna.pruners.HyperbandPruner)
        assert pruner._min_resource == raw["early_terminate"]["min_iter"]


def test_a_grid_with_seeds_expands_every_combination_seeds_fastest():
    spec = load_spec(grid={"model.optimizer.lr": ["1e-3", 0.003], "data.batch_size": [32, 64]},
                     seeds=3, fit_args=["--config", "configs/digits.yaml"])  # fmt: skip
    points = spec.grid()
    assert len(points) == 12
    assert points[0] == {"model.optimizer.lr": 0.001, "data.batch_size": 32, "seed_everything": 0}
    assert [p["seed_everything"] for p in points[:4]] == [0, 1, 2, 0]
    assert cli_args(points[0]) == ["--model.optimizer.lr=0.001", "--data.batch_size=32",
                                   "--seed_everything=0"]  # fmt: skip
    again = load_spec(grid={"model.optimizer.lr": [0.001, 0.003], "data.batch_size": [32, 64]},
                      seeds=3, fit_args=["--config", "configs/digits.yaml"])  # fmt: skip
    assert spec.name == again.name and spec.name.startswith("digits-")  # same command, same sweep
    assert load_spec(seeds=2, fit_args=["--config", "configs/digits.yaml"]).name != spec.name


def test_wandb_distributions_become_optuna_draws_within_their_bounds(tmp_path):
    parameters = {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
        "epochs": {"distribution": "int_uniform", "min": 2, "max": 5},
        "wd": {"distribution": "q_uniform", "min": 0.0, "max": 0.1, "q": 0.05},
        "hidden": {"values": [[64], [128, 64]]},
    }
    path = tmp_path / "dist.yaml"
    path.write_text(
        yaml.safe_dump({"method": "random", "metric": METRIC, "parameters": parameters})
    )
    spec = load_spec(path)
    draws = draw(spec.parameters, 300, seed=0)
    assert draws == draw(spec.parameters, 300, seed=0)  # a seed fixes the search
    lrs = [d["lr"] for d in draws]
    assert all(1e-4 <= x <= 1e-1 for x in lrs)
    assert 1e-3 < sorted(lrs)[150] < 1e-2  # log scale: the median near the geometric mean
    assert all(0 <= d["dropout"] <= 0.5 for d in draws)
    assert {d["epochs"] for d in draws} == {2, 3, 4, 5}
    assert {round(d["wd"], 9) for d in draws} == {0.0, 0.05, 0.1}
    assert {tuple(d["hidden"]) for d in draws} == {(64,), (128, 64)}  # lists survive Optuna
    assert "--hidden=[128, 64]" in cli_args({"hidden": [128, 64]})


MISTAKES = [
    ({"method": "nope", "parameters": {"a": {"values": [1]}}}, [], "unknown method 'nope'"),
    ({"method": "random", "parameters": {"a": {"values": [1]}}}, [], "needs `metric"),
    (
        {"method": "grid", "parameters": {"a": {"min": 0.0, "max": 1.0}}},
        [],
        "a grid needs `values`",
    ),
    (
        {
            "method": "random",
            "metric": METRIC,
            "parameters": {"a": {"distribution": "normal", "min": 0, "max": 1}},
        },
        [],
        "distribution 'normal' has no Optuna equivalent",
    ),
    ({"parameters": {"a": {"values": [1]}}}, ["--run.root", "x"], "--run.root is set by the sweep"),
    (
        {"parameters": {"a": {"values": [1]}}, "early_terminate": {"type": "asha"}},
        [],
        "early_terminate type 'asha'",
    ),
    (
        {"method": "random", "metric": METRIC, "parameters": {"a": {"values": [1]}}},
        [],
        "needs --trials N or run_cap",
    ),
    ("method: [grid\n", [], "is not valid YAML at line"),
]


@pytest.mark.parametrize(("sweep", "fit_args", "message"), MISTAKES)
def test_a_mistake_in_a_sweep_is_one_error_line_and_exit_2(sweep, fit_args, message, tmp_path,
                                                           capsys):  # fmt: skip
    path = tmp_path / "sweep.yaml"
    path.write_text(sweep if isinstance(sweep, str) else yaml.safe_dump(sweep))
    with pytest.raises(SystemExit) as exit_:
        sweep_main([str(path), "--root", str(tmp_path / "sweeps"), "--", *fit_args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not list(tmp_path.glob("sweeps/*/trial-*"))


def test_a_key_the_cli_rejects_stops_a_new_sweep_before_any_trial(tmp_path, capsys):
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({"parameters": {"model.optimizer.lrr": {"values": [0.1]}}}))
    with pytest.raises(SystemExit) as exit_:
        sweep_main([str(path), "--root", str(tmp_path), "--", "--config", "configs/digits.yaml"])
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: the trials' command line is not accepted: ")
    assert "'lrr' is not accepted" in line
    assert not list(tmp_path.glob("typo/trial-*"))
    storage = open_storage(str(tmp_path / "typo" / "optuna.journal"))
    assert optuna.get_all_study_names(storage) == []  # fixed and rerun, it starts afresh


def _study(tmp_path, n=3, name="s", storage=None):
    """A grid over `a` in a journal file in tmp_path (or `storage`, as --storage takes it)."""
    spec = load_spec(grid={"a": list(range(n))}, name=name)
    storage = open_storage(storage_url(storage, tmp_path))
    sampler = optuna.samplers.RandomSampler()
    return open_study(spec, storage, None, sampler, None, check=lambda: METRIC), spec


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_workers_claim_each_queued_trial_exactly_once(storage, tmp_path):
    where = str(tmp_path / ("optuna.journal" if storage == "journal" else "optuna.db"))
    study, _ = _study(tmp_path, n=20, storage=where)  # a .db file is SQLite
    claimed, lock = [], threading.Lock()
    claiming = claim_lock(storage_url(where, tmp_path))

    def worker():
        while (trial := claim(study, claiming)) is not None:
            with lock:
                claimed.append(trial.user_attrs["name"])
            study.tell(trial, 1.0)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [f"trial-{i:03d}" for i in range(20)]
    assert len(study.get_trials()) == 20  # nothing created beyond the queue


def test_a_dead_workers_trial_is_retried_once_under_its_name(tmp_path):
    study, spec = _study(tmp_path)
    trial = claim(study)  # claimed, and its worker died before it drew its values
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    trial.set_user_attr("worker", {"host": HOST, "pid": int(dead)})
    assert recover(study, stale_after=600, retry_failed=False, max_attempts=3) == ["trial-000"]
    assert recover(study, stale_after=600, retry_failed=False, max_attempts=3) == []  # once
    frozen = study.get_trials()[trial.number]
    assert frozen.state == optuna.trial.TrialState.FAIL and frozen.user_attrs["outcome"] == "killed"
    # Two workers that both saw it dead both queue a retry: only the first one queued runs.
    from src.experiments.study import retry

    retry(study, frozen, resume=True)
    first = claim(study)  # the queue is in number order: trial-001, -002, then the retries
    while first.user_attrs.get("retry_of") is None:
        study.tell(first, 0.0)
        first = claim(study)
    second = claim(study)
    assert first.user_attrs["name"] == second.user_attrs["name"] == "trial-000"
    assert suggest(first, spec.parameters) == suggest(second, spec.parameters) == {"a": 0}
    assert not is_duplicate(study, first) and is_duplicate(study, second)
    assert first.user_attrs["resume"] is True and first.user_attrs["attempt"] == 2


def test_a_trial_whose_worker_died_before_naming_itself_is_retried_after_a_grace(
    tmp_path, monkeypatch
):
    import src.experiments.study as study_module

    monkeypatch.setattr(study_module, "CLAIM_GRACE_S", 0.5)
    study, _ = _study(tmp_path, n=1)
    claim(study)  # and the worker dies before it says who it is
    start = time.monotonic()
    assert recover(study, stale_after=600, retry_failed=False, max_attempts=3) == ["trial-000"]
    assert time.monotonic() - start >= 0.4  # a live worker got the time to name itself
    (lost,) = study.get_trials(states=(optuna.trial.TrialState.FAIL,))
    assert lost.user_attrs["outcome"] == "killed"


def test_failed_trials_run_again_only_when_asked(tmp_path):
    study, _ = _study(tmp_path, n=2)
    for _ in range(2):
        trial = claim(study)
        trial.set_user_attr("outcome", "failed" if trial.number == 0 else "interrupted")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert recover(study, 600, retry_failed=False, max_attempts=3) == ["trial-001"]
    assert recover(study, 600, retry_failed=True, max_attempts=3) == ["trial-000"]
    retries = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    resume = {t.user_attrs["name"]: t.user_attrs["resume"] for t in retries}
    assert resume == {"trial-001": True, "trial-000": False}  # a failure starts afresh


def test_a_lock_left_by_a_killed_process_is_broken_at_once(tmp_path):
    journal = str(tmp_path / "optuna.journal")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from src.experiments.storage import OwnedFileLock;"
        f"OwnedFileLock({journal!r}).acquire(); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    start = time.monotonic()
    with OwnedFileLock(journal):
        assert Path(journal + ".lock").read_text() == f"{HOST} {os.getpid()}"
    assert time.monotonic() - start < 2  # not Optuna's grace period of silence
    assert not Path(journal + ".lock").exists()


def test_each_trial_gets_its_share_of_threads_and_one_gpu(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")  # set for the sweep process by a launcher
    monkeypatch.setenv("SLURM_NTASKS", "4")
    env = trial_env(slot=3, threads=2, gpus=["4", "5"], extra={"X": "1"})
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert env["CUDA_VISIBLE_DEVICES"] == "5" and env["X"] == "1"
    assert "LOCAL_RANK" not in env and "SLURM_NTASKS" not in env
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert "CUDA_VISIBLE_DEVICES" not in trial_env(0, 1, [], {})  # no GPUs: none is named


def test_the_failing_line_of_a_trial_is_its_error_or_its_exception():
    assert error_line(["noise", "error: data.batch_size: v>0", "more"], 2) == "data.batch_size: v>0"
    traceback = ["Traceback (most recent call last):", '  File "x.py", line 1', "    boom()",
                 "ValueError: `val_check_interval` (3) must be ..."]  # fmt: skip
    assert error_line(["ok", *traceback], 1) == "ValueError: `val_check_interval` (3) must be ..."
    assert error_line([], -9) == "killed by SIGKILL"


def _run_dir(root: Path, name: str, config: dict, best: float, loss: float) -> Path:
    run = root / name / "2026-01-01_00-00-00_0000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    summary = {"best": {"val/loss": best, "checkpoint": "x"}, "test": {"test/loss": loss}}
    (run / "summary.yaml").write_text(yaml.safe_dump(summary))
    (run / "metrics.csv").write_text("epoch,step,val/loss\n0,9,2.0\n1,19,1.5\n")
    return run


def test_runs_differing_only_in_the_seed_are_grouped_and_sorted_best_first(tmp_path):
    def config(width, seed):
        return {"seed_everything": seed, "checkpoint": {"monitor": "val/loss", "mode": "min"},
                "model": {"class_path": "src.models.ImageClassifier",
                          "init_args": {"net": {"class_path": "src.nets.MLPNet",
                                                "init_args": {"hidden_dims": [width]}}}},
                "run": {"name": "digits", "root": str(tmp_path)}}  # fmt: skip

    losses = {(64, 0): 0.5, (64, 1): 0.7, (256, 0): 0.2, (256, 1): 0.4}
    for (width, seed), loss in losses.items():
        _run_dir(tmp_path, f"w{width}-s{seed}", config(width, seed), loss, loss + 0.1)
    table = build_table(find_runs(tmp_path))
    assert set(table.keys) == {"seed_everything", "model.net.hidden_dims"}  # not run.*: bookkeeping
    assert [r["val/loss (best)"] for r in table.rows] == [0.2, 0.4, 0.5, 0.7]  # min mode: low first
    wide, _ = table.groups
    assert (wide["model.net.hidden_dims"], wide["n"]) == ("[256]", 2)
    assert wide["val/loss (best) mean"] == pytest.approx(0.3)
    assert wide["val/loss (best) std"] == pytest.approx(math.sqrt(0.02))
    assert "0.3 ± 0.14" in table.markdown()


def test_compare_without_runs_is_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        compare_main([str(tmp_path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("error: no runs under")
