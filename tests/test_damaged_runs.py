"""A run directory's own files damaged by hand: `compare` reads around them with one warning
each, and a resume sets each aside (kept, renamed) with one warning and writes a new one. Never
a traceback, never a damaged record taken for a live run."""

import shutil
import subprocess
import sys

import pytest
import yaml

from src.cli import main
from src.runs import read_status
from tests.conftest import FAST, src_env

DAMAGE = {
    "status not text": ("status.yaml", bytes(range(256))),
    "status empty": ("status.yaml", b""),
    "status a list": ("status.yaml", b"- finished\n"),
    "status unknown": ("status.yaml", b"status: exploded\n"),
    "status running, no times": ("status.yaml", b"status: running\nupdated: yesterday\npid: x\n"),
    "status repeats a key": ("status.yaml", b"status: finished\nstatus: running\n"),
    "metrics not text": ("metrics.csv", bytes(range(256)) * 4),
    "metrics long row": ("metrics.csv", b"epoch,step,val/acc\n0,1,0.5,9\n"),
    "metrics short row": ("metrics.csv", b"epoch,step,val/acc\n0\n"),
    "metrics text step": ("metrics.csv", b"epoch,step,val/acc\n0,one,0.5\n"),
    "metrics no step": ("metrics.csv", b"epoch,val/acc\n0,0.5\n"),
    "summary a list": ("summary.yaml", b"- 1\n"),
    "summary best a number": ("summary.yaml", b"best: 5\n"),
}  # fmt: skip


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """One epoch of two: a run a resume continues."""
    root = tmp_path_factory.mktemp("runs")
    main(["fit", *FAST, "--trainer.max_epochs", "1", "--run.root", str(root)])
    (run_dir,) = root.glob("digits/*/")
    return run_dir


def _damaged_copy(stopped_run, tmp_path, name, data):
    run_dir = tmp_path / "digits" / stopped_run.name
    shutil.copytree(stopped_run, run_dir)
    (run_dir / name).write_bytes(data)
    return run_dir


def _warnings(err: str) -> list[str]:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and all(not line.startswith("error:") for line in lines), err
    return [line for line in lines if line.startswith("warning: ")]


@pytest.mark.parametrize(("name", "data"), DAMAGE.values(), ids=list(DAMAGE))
def test_compare_reads_around_a_damaged_file_with_one_warning(stopped_run, tmp_path, name, data):
    run_dir = _damaged_copy(stopped_run, tmp_path, name, data)
    done = subprocess.run([sys.executable, "-m", "src.compare", str(tmp_path)],
                          capture_output=True, text=True, env=src_env(), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (warning,) = _warnings(done.stderr)
    assert str(run_dir / name) in warning
    assert stopped_run.name in done.stdout  # the run is still in the table
    if name == "status.yaml":
        assert read_status(run_dir) is None  # never a live run


@pytest.mark.parametrize(("name", "data"), DAMAGE.values(), ids=list(DAMAGE))
def test_a_resume_sets_a_damaged_file_aside_and_continues(stopped_run, tmp_path, recwarn,
                                                           name, data):  # fmt: skip
    run_dir = _damaged_copy(stopped_run, tmp_path, name, data)
    main(["fit", "--run.resume", str(run_dir), "--trainer.max_epochs", "2"])
    (warning,) = [str(w.message) for w in recwarn if str(run_dir / name) in str(w.message)]
    kept = run_dir / name.replace(".", ".damaged.")
    assert f"kept as {kept.name}" in warning and kept.read_bytes() == data  # nothing lost
    record = yaml.safe_load((run_dir / "status.yaml").read_text())
    assert record["status"] == "finished" and record["global_step"] == 4
    if name == "metrics.csv":
        assert "step" in (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    if name == "summary.yaml":
        assert "test/acc" in yaml.safe_load((run_dir / "summary.yaml").read_text())["test"]
