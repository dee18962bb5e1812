"""Stopping a run with real signals: an exact checkpoint, a non-zero exit, an honest status, and
the same command finishing the run as if it had never stopped."""

import csv
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from src.cli import main
from tests.conftest import run_cli, run_dirs, src_command, src_env

# Deterministic on CPU, dropout and augmentation on, a mid-epoch last.ckpt every 3 steps, and
# `--run.resume auto`: the same command starts the run, then continues it after a stop.
COMMAND = ["fit", "--config", "configs/digits.yaml", "--trainer.enable_progress_bar", "false",
           "--trainer.enable_model_summary", "false", "--trainer.logger", "false",
           "--trainer.max_epochs", "3", "--trainer.log_every_n_steps", "5",
           "--trainer.limit_train_batches", "10",
           "--trainer.limit_val_batches", "3", "--trainer.limit_test_batches", "3",
           "--trainer.num_sanity_val_steps", "0", "--trainer.deterministic", "true",
           "--model.net.dropout", "0.3", "--data.augment", "true",
           "--checkpoint.last_every_n_train_steps", "3", "--run.resume", "auto"]  # fmt: skip


def _ckpt(run_dir: Path, name: str = "last.ckpt") -> dict:
    return torch.load(run_dir / "checkpoints" / name, weights_only=True)


def _status(run_dir: Path) -> dict:
    return yaml.safe_load((run_dir / "status.yaml").read_text())


def _stop_mid_run(root: Path, signum: int) -> tuple[subprocess.CompletedProcess, int]:
    """Start the command in a process, send `signum` once it trained a few steps."""
    proc = subprocess.Popen(
        src_command(*COMMAND, "--run.root", str(root)), env=src_env(torch.get_num_threads()),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "ended before the signal"
            last = [d / "checkpoints" / "last.ckpt" for d in run_dirs(root)]
            if last and last[0].is_file() and _ckpt(last[0].parent.parent)["global_step"] >= 4:
                break  # mid-epoch 0, with a step or two still to go before the next save
            time.sleep(0.05)
        seen = _ckpt(last[0].parent.parent)["global_step"]
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out), seen


@pytest.mark.slow
def test_sigterm_saves_the_step_exits_nonzero_and_the_same_command_finishes_the_run(
    tmp_path, capsys
):
    straight, _ = run_cli([*COMMAND, "--run.root", str(tmp_path / "straight")], capsys)

    root = tmp_path / "stopped"
    stopped, seen = _stop_mid_run(root, signal.SIGTERM)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stdout[-3000:]
    (run_dir,) = run_dirs(root)
    record, ckpt = _status(run_dir), _ckpt(run_dir)
    assert record["status"] == "preempted" and record["signal"] == "SIGTERM"
    assert seen <= ckpt["global_step"] == record["global_step"] < 30  # the step it stopped at
    assert f"--run.resume {run_dir}" in stopped.stdout  # how to continue, said

    resumed, _ = run_cli([*COMMAND, "--run.root", str(root)], capsys)  # the same command
    assert resumed == run_dir and _status(run_dir)["status"] == "finished"
    a, b = _ckpt(straight), _ckpt(resumed)
    assert a["global_step"] == b["global_step"] == 30
    for key, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][key]), key


@pytest.mark.slow
def test_ctrl_c_exits_130_as_interrupted_and_a_resume_logs_every_step_once(tmp_path, capsys):
    root = tmp_path / "runs"
    stopped, _ = _stop_mid_run(root, signal.SIGINT)
    assert stopped.returncode == 130, stopped.stdout[-3000:]
    (run_dir,) = run_dirs(root)
    assert _status(run_dir)["status"] == "interrupted"
    run_cli([*COMMAND, "--run.root", str(root)], capsys)
    assert _status(run_dir)["status"] == "finished" and _status(run_dir)["attempts"] == 2
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    for key in ("train/loss_step", "lr-AdamW", "val/acc"):
        steps = [r["step"] for r in rows if r.get(key)]
        assert steps and len(steps) == len(set(steps)), (key, steps)


def test_a_crash_after_training_started_is_recorded_and_its_resume_logs_each_step_once(
    tmp_path, capsys, monkeypatch
):
    from src.models import ImageClassifier

    args = ["fit", "--config", "configs/presets/debug.yaml", "--trainer.enable_progress_bar",
            "false", "--trainer.enable_model_summary", "false", "--trainer.max_epochs", "2",
            "--trainer.limit_train_batches", "6", "--trainer.log_every_n_steps", "1",
            "--checkpoint.last_every_n_train_steps", "2", "--run.root", str(tmp_path)]  # fmt: skip
    training_step = ImageClassifier.training_step

    def crashes_at_step_9(self, batch, batch_idx):
        if self.global_step == 9:
            raise RuntimeError("out of memory (simulated)")
        return training_step(self, batch, batch_idx)

    monkeypatch.setattr(ImageClassifier, "training_step", crashes_at_step_9)
    with pytest.raises(RuntimeError, match="simulated"):
        main(args)
    (run_dir,) = run_dirs(tmp_path)
    record = _status(run_dir)
    assert record["status"] == "failed" and "out of memory (simulated)" in record["error"]
    assert record["exit_code"] == 1 and _ckpt(run_dir)["global_step"] == 8
    monkeypatch.setattr(ImageClassifier, "training_step", training_step)
    capsys.readouterr()

    run_cli(["fit", "--run.resume", str(run_dir)], capsys)
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    for key in ("train/loss_step", "lr-AdamW"):
        steps = [int(r["step"]) for r in rows if r.get(key)]
        assert steps == list(range(12)), (key, steps)  # step 9 once, not twice
