"""Checkpoints cannot run code on loading, and W&B credentials never reach a run's files."""

from pathlib import Path

import pytest
import torch

from src.cli import main
from src.models import ImageClassifier
from tests.conftest import FAST, run_cli


class _Payload:
    """Unpickling this creates a file: proof that code from the checkpoint ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def malicious_checkpoint(tmp_path) -> tuple[Path, Path]:
    marker, path = tmp_path / "code-ran", tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": _Payload(marker)}}, path)
    return path, marker


@pytest.mark.parametrize("subcommand", ["fit", "test", "predict"])
def test_the_cli_refuses_a_checkpoint_that_would_run_code(
    subcommand, malicious_checkpoint, tmp_path, capsys
):
    path, marker = malicious_checkpoint
    with pytest.raises(SystemExit) as exit_info:
        main([subcommand, *FAST, "--ckpt_path", str(path), "--run.root", str(tmp_path / "runs")])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "could run code" in err and "--weights_only false" in err
    assert not marker.exists()


def test_load_from_checkpoint_refuses_it_too(malicious_checkpoint):
    path, marker = malicious_checkpoint
    with pytest.raises(Exception, match="Weights only load failed"):
        ImageClassifier.load_from_checkpoint(path)
    assert not marker.exists()


def test_the_wandb_api_key_never_lands_in_the_run(tmp_path, capsys, monkeypatch):
    secret = "0123456789abcdef0123456789abcdef01234567"
    monkeypatch.setenv("WANDB_API_KEY", secret)
    monkeypatch.setenv("WANDB_MODE", "offline")  # a key, but no network in tests
    run_dir, out = run_cli(
        ["fit", *FAST, "--trainer.logger", "WandbLogger", "--run.root", str(tmp_path)], capsys
    )
    assert secret not in out
    leaked = [p for p in run_dir.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert not leaked
