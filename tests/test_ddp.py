"""DDP on CPU (gloo): one run directory and W&B run, rank-0 files, single-process results."""

import csv
import subprocess
from pathlib import Path

import pytest

from tests.conftest import src_command, src_env

COMMON = ["--config", "configs/digits.yaml", "--trainer.max_epochs", "2",
          "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
          "--trainer.logger", "WandbLogger", "--trainer.deterministic", "true",
          "--trainer.accelerator", "cpu"]  # fmt: skip


def _fit(args: list[str], root: Path) -> Path:
    proc = subprocess.run(
        src_command("fit", *COMMON, *args, "--run.root", str(root)),
        capture_output=True, text=True, env=src_env(), timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = root.glob("digits/*/")  # one run directory, whatever the number of ranks
    return run_dir


def _test_acc(run_dir: Path) -> float:
    rows = csv.DictReader((run_dir / "metrics.csv").open())
    return [float(r["test/acc"]) for r in rows if r.get("test/acc")][-1]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process_with_the_same_global_batch(tmp_path):
    single = _fit(["--trainer.devices", "1", "--data.batch_size", "32"], tmp_path / "single")
    ddp = _fit(
        ["--trainer.devices", "2", "--trainer.strategy", "ddp", "--data.batch_size", "16"],
        tmp_path / "ddp",
    )
    assert len(list((ddp / "wandb").glob("offline-run-*"))) == 1
    assert sorted(p.name for p in (ddp / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert not list(ddp.rglob("*.tmp"))
    # The same samples make each global batch (the in-memory loader shards the permutation like
    # DistributedSampler); batch-norm statistics (per rank: SyncBatchNorm needs GPUs), dropout
    # masks and float summation order differ, hence the tolerance.
    assert abs(_test_acc(ddp) - _test_acc(single)) <= 0.03, (_test_acc(ddp), _test_acc(single))
