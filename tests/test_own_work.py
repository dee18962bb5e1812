"""A researcher's own LightningModule and DataModule (tests/ownwork: plain Lightning, nothing of
ours imported or subclassed, no `num_classes`, `input_shape` or `monitor`) get the whole run
lifecycle with no edit in src/: run directory, checkpoints, resume after SIGTERM, status,
seeds and their comparison, load_run."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from src.compare import compare_runs
from src.load_run import load_run
from tests.conftest import run_cli, run_dirs, src_command, src_env

TESTS = Path(__file__).resolve().parent
OWN = ["--model", "ownwork.SumModel", "--data", "ownwork.SumData"]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
         "--trainer.logger", "false"]  # fmt: skip


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    """As a researcher's package would be: on the path (PYTHONPATH for the processes)."""
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_own_model_and_data_train_into_a_full_run_directory(tmp_path, capsys):
    run_dir, _ = run_cli(
        ["fit", *OWN, *QUIET, "--trainer.max_epochs", "3", "--data.rows", "512",
         "--run.root", str(tmp_path)], capsys,
    )  # fmt: skip
    assert run_dir.parent.name == "sumdata"  # the experiment is named after the datamodule
    config = _yaml(run_dir / "config.yaml")
    assert config["model"]["class_path"] == "ownwork.SumModel"
    assert (config["checkpoint"]["monitor"], config["checkpoint"]["mode"]) == ("val/loss", "min")
    assert _yaml(run_dir / "status.yaml")["status"] == "finished"
    summary = _yaml(run_dir / "summary.yaml")
    assert summary["best"]["val/loss"] < 10 and "test/loss" in summary["test"]
    for name in ("best.ckpt", "last.ckpt"):
        assert (run_dir / "checkpoints" / name).is_file()
    # no link reached the model: its hyperparameters are its own arguments, nothing more
    hparams = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    own = {
        k for k in hparams["hyper_parameters"] if not k.startswith("_")
    }  # _class_path: the CLI's
    assert own == {"width", "hidden", "lr"}
    # nothing a review callback could not do for this task was drawn, nor warned about
    assert {p.name for p in run_dir.glob("*.png")} == {"curves.png"}
    assert "warning" not in capsys.readouterr().err.lower()

    model, datamodule = load_run(run_dir)
    datamodule.setup("test")
    x, y = next(iter(datamodule.test_dataloader()))
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert torch.nn.functional.mse_loss(model(x), y) < torch.var(y)  # it learned something

    table = compare_runs(tmp_path)
    assert [row["status"] for row in table.rows] == ["finished"]
    assert table.rows[0]["val/loss (best)"] == pytest.approx(summary["best"]["val/loss"])


def test_own_model_predicts_and_refuses_what_it_cannot_do_in_one_line(tmp_path, capsys):
    run_dir, _ = run_cli(["fit", *OWN, *QUIET, "--trainer.max_epochs", "1", "--data.rows", "256",
                          "--run.root", str(tmp_path)], capsys)  # fmt: skip
    # Lightning's default predict_step is forward(batch): the whole (x, y) tuple fails in it
    with pytest.raises(SystemExit) as exit_info:
        from src.cli import main

        main(["predict", "--config", str(run_dir / "config.yaml"),
              "--ckpt_path", str(run_dir / "checkpoints" / "best.ckpt")])  # fmt: skip
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "SumModel has no predict_step" in err, err
    # export builds its deployed model from our datamodules' contract: said, not a traceback
    with pytest.raises(SystemExit) as exit_info:
        from src.export import main as export

        export([str(run_dir)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "SumData has no input_shape, normalize" in err, err


@pytest.mark.slow
def test_own_work_stopped_by_sigterm_continues_with_the_same_command(tmp_path):
    root = tmp_path / "runs"
    command = src_command(
        "fit", *OWN, *QUIET, "--trainer.max_epochs", "3", "--data.rows", "8192",
        "--data.batch_size", "8", "--checkpoint.last_every_n_train_steps", "5",
        "--run.resume", "auto", "--run.root", str(root),
    )  # fmt: skip
    proc = subprocess.Popen(command, env=src_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not any((d / "checkpoints" / "last.ckpt").is_file() for d in run_dirs(root)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    (run_dir,) = run_dirs(root)
    stopped = _yaml(run_dir / "status.yaml")
    assert stopped["status"] == "preempted" and 0 < stopped["global_step"] < 3 * 820

    again = subprocess.run(command, env=src_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"Resuming {run_dir} from step {stopped['global_step']}" in again.stdout
    assert run_dirs(root) == [run_dir]  # the same run, continued
    record = _yaml(run_dir / "status.yaml")
    assert record["status"] == "finished" and record["attempts"] == 2
    assert record["global_step"] == 3 * 820  # 6554 training rows in batches of 8, 3 epochs


@pytest.mark.slow
def test_own_work_sweeps_seeds_and_compares_them(tmp_path):
    sweep = [sys.executable, "-m", "src.sweep", "--seeds", "2", "--root", str(tmp_path),
             "--name", "own", "--", *OWN, *QUIET, "--trainer.max_epochs", "2",
             "--data.rows", "512"]  # fmt: skip
    done = subprocess.run(sweep, env=src_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = tmp_path / "own"
    assert _yaml(folder / "sweep.yaml")["metric"] == {"name": "val/loss", "goal": "minimize"}
    compare = [sys.executable, "-m", "src.compare", str(folder)]
    shown = subprocess.run(compare, env=src_env(), capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    table = compare_runs(folder)
    assert [row["status"] for row in table.rows] == ["finished", "finished"]
    assert sorted(row["seed_everything"] for row in table.rows) == [0, 1]
    (group,) = table.groups
    assert group["n"] == 2 and group["val/loss (best) mean"] is not None
    assert "val/loss (best)" in shown.stdout and "Grouped over seeds" in shown.stdout
