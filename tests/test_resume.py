"""Resuming: the one-flag resume, exact kill -9 / resume, and atomic checkpoint writes."""

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import wandb

from src.cli import main
from tests.conftest import FAST, run_cli

QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def _wandb_ids(run_dir: Path) -> set[str]:
    runs = [p for p in (run_dir / "wandb").glob("offline-run-*") if p.is_dir()]
    return {p.name.rsplit("-", 1)[-1] for p in runs}


def _ckpt(run_dir: Path, name: str = "last.ckpt") -> dict:
    return torch.load(run_dir / "checkpoints" / name, weights_only=True)


def test_one_flag_resume_continues_the_same_run_and_wandb_run(tmp_path, capsys):
    wandb.finish()  # an earlier in-process test may have left its W&B run open
    first = ["fit", *FAST, "--trainer.logger", "WandbLogger", "--trainer.limit_train_batches", "4",
             "--run.test_after_fit", "false", "--run.root", str(tmp_path)]  # fmt: skip
    run_dir, _ = run_cli(first, capsys)
    assert _ckpt(run_dir)["global_step"] == 4
    (wandb_id,) = _wandb_ids(run_dir)
    config_before = (run_dir / "config.yaml").read_text()
    wandb.finish()  # as when the first process ends: the resumed run must reattach by its id

    resumed, _ = run_cli(
        ["fit", "--run.resume", "last", "--run.root", str(tmp_path), "--trainer.max_epochs", "2"],
        capsys,
    )
    assert resumed == run_dir
    assert _ckpt(run_dir)["global_step"] == 8  # 4 steps per epoch, continued, not restarted
    wandb.finish()
    assert _wandb_ids(run_dir) == {wandb_id}  # a second offline-run-* dir, same run id
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 2
    # The original config stays; the resumed one is saved beside it.
    assert (run_dir / "config.yaml").read_text() == config_before
    assert (run_dir / "config.resume-1.yaml").is_file()
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    epochs = {int(r["epoch"]) for r in rows if r["epoch"]}
    steps = [int(r["step"]) for r in rows if r.get("train/loss_step")]
    assert epochs == {0, 1} and steps == sorted(steps) and max(steps) >= 7


def test_resume_by_directory_keeps_explicit_overrides(tmp_path, capsys):
    run_dir, _ = run_cli(
        ["fit", *FAST, "--run.test_after_fit", "false", "--run.root", str(tmp_path)], capsys
    )
    resumed, _ = run_cli(["fit", "--run.resume", str(run_dir), "--trainer.max_epochs", "3"], capsys)
    assert resumed == run_dir and _ckpt(run_dir)["global_step"] == 6  # 2 batches x 3 epochs


# The exact-resume setting: dropout on, a per-step schedule, early stopping and a best
# checkpoint, and last.ckpt every 3 steps so a kill lands mid-epoch.
EXACT = ["--config", "configs/digits.yaml", *QUIET, "--trainer.logger", "false",
         "--trainer.max_epochs", "3", "--trainer.limit_train_batches", "10",
         "--trainer.limit_val_batches", "3", "--trainer.limit_test_batches", "3",
         "--trainer.num_sanity_val_steps", "0", "--trainer.deterministic", "true",
         "--model.net.dropout", "0.3", "--data.augment", "true",
         "--checkpoint.last_every_n_train_steps", "3"]  # fmt: skip


def _wait_for_step(last: Path, step: int, proc: subprocess.Popen, timeout: float = 240) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        if last.is_file():
            # Safe to read while the run writes: the checkpoint is replaced atomically.
            global_step = torch.load(last, weights_only=True)["global_step"]
            if global_step >= step:
                return global_step
        time.sleep(0.05)
    raise TimeoutError(f"{last} never reached step {step}")


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_step", [4, 13])  # mid-epoch 0; mid-epoch 1
def test_kill_9_then_resume_equals_an_uninterrupted_run(kill_after_step, tmp_path, capsys):
    straight, _ = run_cli(["fit", *EXACT, "--run.root", str(tmp_path / "straight")], capsys)

    root = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "src", "fit", *EXACT, "--run.root", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (found := list(root.glob("*/*/checkpoints"))) and time.monotonic() < deadline:
            time.sleep(0.05)
        last = found[0] / "last.ckpt"
        killed_at = _wait_for_step(last, kill_after_step, proc)
        time.sleep(random.uniform(0, 0.3))  # anywhere in the next steps, writes included
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert killed_at < 30  # it did die before the end
    resumed, _ = run_cli(["fit", "--run.resume", "last", "--run.root", str(root)], capsys)

    a, b = _ckpt(straight), _ckpt(resumed)
    assert a["global_step"] == b["global_step"] == 30 and a["epoch"] == b["epoch"]
    for key, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][key]), key
    best_a, best_b = _ckpt(straight, "best.ckpt"), _ckpt(resumed, "best.ckpt")
    assert best_a["global_step"] == best_b["global_step"]  # the best-checkpoint state survived
    for key, tensor in best_a["state_dict"].items():
        assert torch.equal(tensor, best_b["state_dict"][key]), key
    test_acc = [
        [float(r["test/acc"]) for r in csv.DictReader((d / "metrics.csv").open()) if r["test/acc"]]
        for d in (straight, resumed)
    ]
    assert test_acc[0] and test_acc[0][-1] == test_acc[1][-1]


_WRITER = """
import sys, torch
from src.plugins import AtomicCheckpointIO
target, i, io = sys.argv[1], 0, AtomicCheckpointIO()
while True:
    i += 1
    io.save_checkpoint({"i": i, "weights": torch.full((8_000_000,), float(i))}, target)
    print(i, flush=True)
"""


def test_a_kill_during_checkpoint_writes_never_leaves_a_truncated_file(tmp_path):
    target, rng = tmp_path / "last.ckpt", random.Random(0)
    for _ in range(3):  # each round costs a process start; `-m slow` users can raise this
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        proc.stdout.readline()  # one full write done; now kill it somewhere in the next ones
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        checkpoint = torch.load(target, weights_only=True)  # never torn: loads completely
        assert torch.all(checkpoint["weights"] == checkpoint["i"])


def test_a_stopped_run_without_a_checkpoint_cannot_be_resumed(tmp_path, capsys):
    run_dir = tmp_path / "digits" / "2026-01-01_00-00-00_abcd"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("{}\n")
    with pytest.raises(SystemExit):
        main(["fit", "--run.resume", str(run_dir)])
    assert "no checkpoints/last.ckpt" in capsys.readouterr().err
