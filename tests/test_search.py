"""An Optuna search without W&B: two worker processes share one study, hopeless trials pruned."""

import subprocess
import sys
import time

import optuna
import pytest
import yaml

from src.experiments.records import read_record
from src.experiments.search import draw
from src.experiments.spec import load_spec
from src.experiments.storage import open_storage
from tests.conftest import FAST, run_cli
from tests.test_sweeps import QUIET, csv_rows

pytestmark = pytest.mark.slow  # trial processes: multi-process by nature

HOPELESS = 1e-5  # val/acc stays ~0.06 for 2 epochs of 8 steps; 3e-3 and 1e-2 reach ~0.6
SEARCH = {
    "method": "random",
    "metric": {"name": "val/acc", "goal": "maximize"},
    "early_terminate": {"type": "threshold", "lower": 0.3, "min_iter": 1},
    "run_cap": 6,
    "parameters": {
        "model.optimizer.lr": {"values": [HOPELESS, 0.003, 0.01]},
        "model.net.dropout": {"distribution": "uniform", "min": 0.0, "max": 0.3},
    },
}
SEED = 2  # its six draws hold both hopeless and good learning rates (checked below)
EPOCHS = ["--trainer.max_epochs", "3", "--trainer.limit_train_batches", "8"]


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    (tmp / "search.yaml").write_text(yaml.safe_dump(SEARCH, sort_keys=False))
    command = [sys.executable, "-m", "src.sweep", str(tmp / "search.yaml"), "--seed", str(SEED),
               "--threads", "1", "--root", str(tmp), "--", *QUIET, *EPOCHS]  # fmt: skip
    start = time.monotonic()
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]  # fmt: skip
    outputs = [w.communicate(timeout=600) for w in workers]
    return workers, outputs, tmp / "search", time.monotonic() - start


def test_two_workers_share_one_study_and_run_each_of_its_6_trials_once(search):
    workers, outputs, folder, _ = search
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-2000:]
    study = optuna.load_study(
        study_name="search", storage=open_storage(str(folder / "optuna.journal"))
    )
    trials = study.get_trials()
    assert len(trials) == 6  # no more than asked for, none queued twice
    assert {t.state for t in trials} <= {
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
    }
    names = sorted(t.user_attrs["name"] for t in trials)
    assert names == [f"trial-{i:03d}" for i in range(6)]
    records = {name: read_record(folder / name) for name in names}
    for name, record in records.items():  # each ran once, in one run directory
        assert record["attempts"] == 1, name
        assert len(list((folder / name).glob("*/config.yaml"))) == 1, name
        log = (folder / name / "output.log").read_text().splitlines()
        assert sum(line.startswith("=== ") for line in log) == 1, name
    pids = {record["worker_pid"] for record in records.values()}
    assert pids == {w.pid for w in workers}  # both workers took trials
    started = sum(out.count(" started: ") for out, _ in outputs)
    assert started == 6


def test_the_random_draws_are_the_seeds_whichever_worker_runs_them(search):
    _, _, folder, _ = search
    spec = load_spec(folder.parent / "search.yaml")
    expected = draw(spec.parameters, 6, SEED)
    tried = [read_record(folder / f"trial-{i:03d}")["params"] for i in range(6)]
    assert tried == expected
    lrs = {p["model.optimizer.lr"] for p in expected}
    assert HOPELESS in lrs and lrs - {HOPELESS}, "pick a SEED drawing both kinds of trials"


def test_hopeless_trials_are_pruned_on_the_validation_metric_and_stop_early(search):
    _, _, folder, _ = search
    for row in csv_rows(folder / "runs.csv"):
        record = read_record(folder / row["run"])
        hopeless = record["params"]["model.optimizer.lr"] == HOPELESS
        assert row["status"] == ("pruned" if hopeless else "finished"), row["run"]
        run_dir = folder / record["run_dir"]
        epochs = {r["epoch"] for r in csv_rows(run_dir / "metrics.csv") if r.get("val/acc")}
        assert len(epochs) == (2 if hopeless else 3), row["run"]  # pruned after epoch 1


def test_the_best_config_is_a_yaml_that_fit_accepts(search, tmp_path, capsys):
    _, _, folder, _ = search
    rows = [r for r in csv_rows(folder / "runs.csv") if r["status"] == "finished"]
    best = max(rows, key=lambda r: float(r["val/acc (best)"]))
    best_yaml = folder / "best.yaml"
    assert f"{best['run']}, val/acc = " in best_yaml.read_text().splitlines()[0]
    config = yaml.safe_load(best_yaml.read_text())
    lr = config["model"]["init_args"]["optimizer"]["init_args"]["lr"]
    assert lr == float(best["model.optimizer.lr"])
    callbacks = [c["class_path"] for c in config["trainer"]["callbacks"]]
    assert not any("OptunaPruning" in c for c in callbacks)  # a run of its own, not a trial
    run_dir, _ = run_cli(["fit", "--config", str(best_yaml), *FAST,
                          "--run.root", str(tmp_path)], capsys)  # fmt: skip
    assert run_dir.parent == tmp_path / "search-best"
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["model"]["init_args"]["optimizer"]["init_args"]["lr"] == lr
