"""Shared fixtures: small datasets written in their real on-disk formats, and a CLI runner."""

import gzip
import hashlib
import os
import re
import socket
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from src.cli import main


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an array in the MNIST idx format (big-endian header, uint8 data), plus its .gz."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.write_bytes(payload)
    with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
        f.write(payload)


def make_mnist_like(root: Path, name: str, n_train: int = 256, n_test: int = 64) -> Path:
    """`<root>/<name>/raw/` in torchvision's layout; class c is a bright bar at rows 2c+2, 2c+3."""
    raw = root / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items) -> None:
    """The slow tests start several processes each: one xdist worker runs them one after the
    other (`--dist loadgroup`), the other workers the in-process tests; a module's shared
    sweep is then run once, not once per worker."""
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("processes"))


if os.environ.get("PYTEST_XDIST_WORKER"):
    # One core per worker, so in-process runs do not crowd the others; the same for the
    # processes a test starts, whose results some tests compare bit for bit with in-process ones.
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_mnist_like(root, "MNIST")
    make_mnist_like(root, "FashionMNIST")
    return root


@pytest.fixture(autouse=True)
def _no_wandb_credentials(monkeypatch, tmp_path):
    """Tests never log in to W&B: no key, no ~/.netrc, offline chosen by the code itself."""
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_SILENT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))


# Quiet, fast runs: no progress bar or summary, two batches per split, no W&B.
FAST = [
    "--config", "configs/presets/debug.yaml",
    "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
]  # fmt: skip


def run_cli(args: list[str], capsys) -> tuple[Path, str]:
    """Run `python -m src <args>` in-process; return the run directory it printed and stdout."""
    main(args)
    out = capsys.readouterr().out
    dirs = re.findall(r"^Run directory: (.+)$", out, flags=re.M)
    assert dirs, out
    return Path(dirs[-1]), out


def free_port() -> int:
    """A port nobody listens on now: each multi-process test gets its own rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def src_env(threads: int = 1, **extra: str) -> dict:
    """The environment of a `python -m src` subprocess: offline W&B, `threads` threads (one: the
    machine has two cores for several processes; results compared bit for bit with an
    in-process run need the same number as this process), no parent run's shared values."""
    inherited = ("LIGHTNING_RESEARCH_", "MASTER_", "TORCHELASTIC_", "SLURM_", "PL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "GROUP_RANK"):
        env.pop(key, None)  # an in-process DDP run leaves these (and MASTER_PORT) set
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", OMP_NUM_THREADS=str(threads), **extra)
    return env


def src_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "src", *args]


def run_dirs(root: Path) -> list[Path]:
    """The run directories under `root` (any depth): folders holding a config.yaml."""
    return sorted(p.parent for p in root.glob("**/config.yaml") if p.parent.name != "checkpoints")


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory) -> Path:
    """One finished run (SmallCNN on digits) whose files no mistake may touch."""
    root = tmp_path_factory.mktemp("runs")
    main(["fit", *FAST, "--run.test_after_fit", "false", "--run.root", str(root)])
    (run_dir,) = root.glob("digits/*/")
    return run_dir


def fingerprint(root: Path) -> dict[str, str]:
    """Every file's hash and every folder (an empty run directory counts too) under `root`."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


def assert_one_error_line(err: str, expected: list[str]) -> None:
    """stderr is one `error: ...` line, no traceback, holding every expected word."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for word in expected:
        assert word in lines[0], lines[0]
