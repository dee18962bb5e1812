"""Resuming: the one-flag resume, exact kill -9 / resume, and atomic checkpoint writes."""

import csv
import itertools
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import wandb
import yaml

from src.cli import main
from tests.conftest import FAST, run_cli, run_dirs

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
    io.save_checkpoint({"i": i, "weights": torch.full((2_000_000,), float(i))}, target)
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


# What a resume does with the options it is given, and how runs that fail are recorded.
DEBUG = [*FAST, "--run.test_after_fit", "false", "--trainer.log_every_n_steps", "1"]


def _lrs(run_dir: Path) -> dict[int, float]:
    rows = csv.DictReader((run_dir / "metrics.csv").open())
    return {int(r["step"]): float(r["lr-AdamW"]) for r in rows if r.get("lr-AdamW")}


def test_a_resume_trains_with_the_learning_rate_and_weight_decay_it_is_given(tmp_path, capsys):
    run_dir, _ = run_cli(["fit", *DEBUG, "--trainer.limit_train_batches", "4",
                          "--run.root", str(tmp_path)], capsys)  # fmt: skip
    assert max(_lrs(run_dir).values()) == pytest.approx(1e-3)
    _, out = run_cli(["fit", "--run.resume", str(run_dir), "--trainer.max_epochs", "3",
                      "--model.optimizer.lr", "0.01", "--model.optimizer.weight_decay", "0.3"],
                     capsys)  # fmt: skip
    assert "model.optimizer.lr: 0.001 -> 0.01" in out  # said, before training
    resumed = [lr for step, lr in _lrs(run_dir).items() if step >= 4]
    assert max(resumed) > 2e-3  # the new peak, not the checkpoint's 1e-3
    group = _ckpt(run_dir)["optimizer_states"][0]["param_groups"][0]
    assert group["weight_decay"] == 0.3 and group["initial_lr"] == 0.01


def test_training_longer_continues_the_schedule_without_a_step_at_lr_0(tmp_path, capsys):
    run_dir, _ = run_cli(["fit", *DEBUG, "--trainer.limit_train_batches", "8",
                          "--run.root", str(tmp_path)], capsys)  # fmt: skip
    first = _lrs(run_dir)
    assert first[7] < 0.05 * max(first.values())  # the cosine ended near 0
    run_cli(["fit", "--run.resume", "last", "--run.root", str(tmp_path),
             "--trainer.max_epochs", "3"], capsys)  # fmt: skip
    lrs = _lrs(run_dir)
    resumed = [lrs[step] for step in range(8, 24)]
    assert min(resumed[:-1]) > 0  # never a step at LR 0 (the last is the schedule's end)
    assert resumed[0] < resumed[1]  # warms up again from where it stopped: no jump
    peak = resumed.index(max(resumed))
    assert all(a >= b for a, b in itertools.pairwise(resumed[peak:]))  # then one cosine down
    assert resumed[-1] < 0.1 * max(resumed)


def test_resume_last_finds_runs_at_any_depth_and_skips_runs_that_failed(tmp_path, capsys):
    real, _ = run_cli(["fit", *DEBUG, "--run.name", "sweep/lr01", "--run.root", str(tmp_path)],
                      capsys)  # fmt: skip
    with pytest.raises(SystemExit):  # a later run that fails before training
        main(["fit", *DEBUG, "--data", "MNISTDataModule", "--data.data_dir", str(tmp_path / "no"),
              "--run.root", str(tmp_path)])  # fmt: skip
    assert run_dirs(tmp_path) == [real]  # it left nothing behind
    resumed, _ = run_cli(["fit", "--run.resume", "last", "--run.root", str(tmp_path),
                          "--trainer.max_epochs", "2"], capsys)  # fmt: skip
    assert resumed == real and _ckpt(real)["global_step"] == 4


def test_a_run_with_nothing_left_to_train_says_so_and_exits_0(tmp_path, capsys):
    run_dir, _ = run_cli(["fit", *DEBUG, "--run.root", str(tmp_path)], capsys)
    before = (run_dir / "status.yaml").read_text()
    main(["fit", "--run.resume", str(run_dir)])  # returns: exit 0
    out = capsys.readouterr().out
    assert "Nothing left to train" in out and "--trainer.max_epochs" in out
    assert (run_dir / "status.yaml").read_text() == before
    assert not list(run_dir.glob("config.resume-*.yaml"))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--data.batch_size", "16"], ["keeps the batch size", "data.batch_size", "new run"]),
        (["--seed_everything", "7"], ["keeps the seed"]),
        (["--model.net.channels", "[8, 16, 32]"], ["does not fit the model", "shape"]),
    ],
    ids=["batch size", "seed", "net shape"],
)
def test_a_resume_refuses_changes_that_would_mix_two_runs(args, words, tmp_path, capsys):
    run_dir, _ = run_cli(["fit", *DEBUG, "--run.root", str(tmp_path)], capsys)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--run.resume", str(run_dir), "--trainer.max_epochs", "2", *args])
    assert exit_info.value.code == 2
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert line.startswith("error: ") and all(w in line for w in words), line
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_early_stopping_says_what_stopped_it_and_a_resume_takes_new_patience(tmp_path, capsys):
    never_better = ["--early_stopping.min_delta", "1.0", "--early_stopping.patience", "1"]
    run_dir, out = run_cli(["fit", *DEBUG, "--trainer.max_epochs", "6", *never_better,
                            "--run.root", str(tmp_path)], capsys)  # fmt: skip
    assert "Early stopping: val/acc did not improve" in out and "after epoch 1" in out
    assert _ckpt(run_dir)["epoch"] == 1  # two epochs of six
    main(["fit", "--run.resume", str(run_dir)])
    assert "early stopping ended it" in capsys.readouterr().out
    run_cli(["fit", "--run.resume", str(run_dir), "--early_stopping.patience", "3"], capsys)
    stopper = next(v for k, v in _ckpt(run_dir)["callbacks"].items() if "EarlyStopping" in k)
    assert stopper["patience"] == 3 and _ckpt(run_dir)["epoch"] > 1


def test_failed_evaluations_leave_no_folder_inside_the_run(tmp_path, capsys, monkeypatch):
    from src.models import ImageClassifier

    run_dir, _ = run_cli(["fit", *DEBUG, "--run.root", str(tmp_path)], capsys)
    before = sorted(run_dir.rglob("*"))

    def broken(self, batch, batch_idx):
        raise RuntimeError("a bug in test_step")

    monkeypatch.setattr(ImageClassifier, "test_step", broken)
    config, best = str(run_dir / "config.yaml"), str(run_dir / "checkpoints" / "best.ckpt")
    with pytest.raises(RuntimeError, match="a bug in test_step"):
        main(["test", "--config", config, "--ckpt_path", best])
    assert sorted(run_dir.rglob("*")) == before


def test_progress_is_printed_as_lines_when_output_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    from src.callbacks import LogProgress

    monkeypatch.setattr(LogProgress.__init__, "__defaults__", (2, 30.0))  # every 2 steps
    run_dir, out = run_cli(["fit", "--config", "configs/presets/debug.yaml",
                            "--trainer.enable_model_summary", "false",
                            "--trainer.limit_train_batches", "4", "--run.root", str(tmp_path)],
                           capsys)  # fmt: skip
    assert re.search(r"^epoch 1/1  step 2/4  loss [\d.]+  \d+ samples/s  ETA 0:00:\d\d$", out, re.M)
    assert re.search(r"^epoch 1 validation: val/loss [\d.]+  val/acc [\d.]+", out, re.M)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["callbacks"]
    assert "src.callbacks.LogProgress" in [c["class_path"] for c in saved]


def test_a_run_stopped_in_its_test_is_tested_when_resumed(tmp_path, capsys, monkeypatch):
    from src.models import ImageClassifier

    test_step = ImageClassifier.test_step

    def killed(self, batch, batch_idx):
        raise RuntimeError("node lost during the test (simulated)")

    monkeypatch.setattr(ImageClassifier, "test_step", killed)
    with pytest.raises(RuntimeError, match="simulated"):
        main(["fit", *FAST, "--run.root", str(tmp_path)])
    (run_dir,) = run_dirs(tmp_path)
    assert yaml.safe_load((run_dir / "status.yaml").read_text())["status"] == "failed"
    monkeypatch.setattr(ImageClassifier, "test_step", test_step)
    capsys.readouterr()

    _, out = run_cli(["fit", "--run.resume", str(run_dir)], capsys)
    assert "no test results: testing its best checkpoint" in out
    summary = yaml.safe_load((run_dir / "summary.yaml").read_text())
    assert "test/acc" in summary["test"] and "val/acc" in summary["best"]  # both blocks
    assert yaml.safe_load((run_dir / "status.yaml").read_text())["status"] == "finished"
    assert _ckpt(run_dir)["global_step"] == 2  # nothing trained again
