"""Grids and seeds with `python -m src.sweep`: real trial processes, a real SIGKILL, a resume.

The sweeps are shared between assertions (module-scoped): every trial is a process that pays
Lightning's start-up, so each sweep runs once.
"""

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from src.experiments.overlay import overlay_figure
from src.experiments.records import read_record
from src.experiments.run_info import find_runs
from src.runs.status import read_status
from src.sweep import load_spec, run_sweep

pytestmark = pytest.mark.slow  # trial processes: multi-process by nature

# Tiny, deterministic trials; of the review callbacks only summary.yaml and the NaN check (the
# PNGs cost seconds per trial).
QUIET = ["--config", "configs/digits.yaml", "--config", "configs/presets/debug.yaml",
         "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
         "--trainer.callbacks", "[src.callbacks.RunSummary, src.callbacks.StopOnNonFiniteLoss]",
         "--trainer.deterministic", "true"]  # fmt: skip
# Plain SGD, where clipping the gradient tames even a learning rate of 1e6; unclipped, that one
# trial's loss becomes NaN after its first epoch and it fails, leaving its run directory.
TRIAL = [*QUIET, "--model.optimizer", "SGD", "--model.scheduler", "null",
         "--trainer.max_epochs", "4", "--trainer.limit_train_batches", "4"]  # fmt: skip
GRID = {
    "method": "grid",
    "parameters": {
        "model.optimizer.lr": {"values": [0.1, 1.0e6]},
        "trainer.gradient_clip_val": {"values": [None, 1.0e-6]},
    },
}
BAD = "trial-002"  # lr 1e6, no clipping


def sweep_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "src.sweep", *args, "--", *TRIAL]


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def records(folder: Path) -> dict[str, dict]:
    return {d.name: read_record(d) or {} for d in sorted(folder.glob("trial-*"))}


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "grid.yaml"
    path.write_text(yaml.safe_dump(GRID))
    return path


@pytest.fixture(scope="module")
def grid(grid_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    done = run(sweep_command(str(grid_file), "--parallel", "2", "--root", str(root)))
    return done, root / "grid"


def test_a_grid_runs_every_combination_two_at_a_time_and_names_the_failed_trial(grid):
    done, folder = grid
    assert done.returncode == 1, done.stderr[-2000:]
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert f"1 of 4 trials failed: {BAD}" in error and "the training loss became nan" in error

    trials = records(folder)
    assert list(trials) == ["trial-000", "trial-001", "trial-002", "trial-003"]
    states = {name: r["state"] for name, r in trials.items()}
    assert states == {"trial-000": "finished", "trial-001": "finished", BAD: "failed",
                      "trial-003": "finished"}  # fmt: skip
    assert trials[BAD]["exit_code"] == 2 and "loss became nan" in trials[BAD]["error"]
    for name, record in trials.items():  # 4 ordinary run directories, one per trial
        (config,) = (folder / name).glob("*/config.yaml")
        assert str(config.parent.relative_to(folder)) == record["run_dir"]
        status = yaml.safe_load((config.parent / "status.yaml").read_text())["status"]
        assert status == ("failed" if name == BAD else "finished")
        assert (config.parent / "checkpoints" / "last.ckpt").is_file()
    # two at a time: the first two trials both started before either ended
    first, second = trials["trial-000"], trials["trial-001"]
    assert max(first["started"], second["started"]) <= min(first["ended"], second["ended"])


def test_the_grid_table_has_a_row_per_trial_and_only_the_swept_keys(grid):
    done, folder = grid
    rows = csv_rows(folder / "runs.csv")
    assert len(rows) == 4
    keys = [c for c in rows[0] if c.startswith(("trainer.", "model.", "data."))]
    assert keys == ["model.optimizer.lr", "trainer.gradient_clip_val"]
    assert [r["status"] for r in rows].count("finished") == 3
    assert {r["run"] for r in rows if r["status"] == "failed"} == {BAD}
    accs = [float(r["val/acc (best)"]) for r in rows if r["val/acc (best)"]]
    assert accs == sorted(accs, reverse=True)  # best first
    assert f"| {BAD} | failed |" in (folder / "runs.md").read_text()
    assert f"| {BAD} | failed |" in done.stdout  # the table is printed too


def test_the_overlay_png_has_one_curve_per_run(grid):
    _, folder = grid
    png = folder / "val_acc.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = find_runs(folder)
    figure = overlay_figure(runs, "val/acc", ["model.optimizer.lr", "trainer.gradient_clip_val"])
    lines = figure.axes[0].get_lines()
    assert len(lines) == 4  # the failed trial too: one validation before its loss became NaN
    points = sorted(len(line.get_xdata()) for line in lines)
    assert points == [1, 4, 4, 4]  # a point per validation epoch


def test_the_best_grid_trial_is_a_config_fit_accepts(grid, tmp_path, capsys):
    _, folder = grid
    from src.cli import main

    best = folder / "best.yaml"
    with pytest.raises(SystemExit) as printed:
        main(["fit", "--config", str(best), "--print_config"])
    assert printed.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["run"]["name"] == "grid-best" and config["run"]["root"] == "logs"


def test_rerunning_a_finished_sweep_from_python_runs_nothing_and_returns_its_table(grid, grid_file):
    _, folder = grid
    before = records(folder)
    spec = load_spec(grid_file, fit_args=TRIAL)
    table = run_sweep(spec, root=folder.parent, parallel=2, echo=False)
    assert [row["run"] for row in table.failed] == [BAD]
    assert sorted(row["run"] for row in table.rows) == sorted(before)
    assert records(folder) == before  # no trial ran again


def _stopped(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except OSError:
        return False


def _mid_training(run_dir: Path) -> bool:
    """A last.ckpt to continue from, and at least one epoch to go (4 epochs of 4 steps)."""
    status = read_status(run_dir) or {}
    if not (run_dir / "checkpoints" / "last.ckpt").is_file():
        return False  # status.yaml may say step 4 just before last.ckpt is written
    return status.get("status") == "running" and 4 <= status.get("global_step", 0) < 16


def _kill_mid_way(proc: subprocess.Popen, folder: Path, timeout: float = 300) -> str:
    """Freeze a trial in the middle of its training (SIGSTOP), wait for another trial to finish,
    then SIGKILL the sweep and every trial process: a node lost mid-sweep. Returns the frozen
    trial."""
    frozen, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        trials = records(folder)
        if frozen is None:
            for name, r in trials.items():
                run_dir = folder / str(r.get("run_dir"))
                if r.get("state") == "running" and r.get("run_dir") and _mid_training(run_dir):
                    os.kill(r["pid"], signal.SIGSTOP)
                    if _stopped(r["pid"]) and _mid_training(run_dir):  # still, now it is frozen
                        frozen = name
                        break
                    os.kill(r["pid"], signal.SIGCONT)  # it moved on meanwhile
        elif any(r.get("state") == "finished" for r in trials.values()):
            break
        time.sleep(0.02)
    else:
        raise TimeoutError("no trial could be frozen mid-way")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for r in records(folder).values():
        if r.get("pid"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(r["pid"], signal.SIGKILL)
    return frozen


@pytest.fixture(scope="module")
def killed(grid_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("killed")
    command = sweep_command(str(grid_file), "--parallel", "2", "--root", str(root))
    folder = root / "grid"
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    frozen = _kill_mid_way(proc, folder)
    before = records(folder)
    ended = {name: r for name, r in before.items() if r.get("state") in ("finished", "failed")}
    mtimes = {
        name: (folder / r["run_dir"] / "metrics.csv").stat().st_mtime_ns
        for name, r in ended.items()
        if r.get("run_dir") and (folder / r["run_dir"] / "metrics.csv").is_file()
    }
    again = run(command)  # the same command
    return folder, frozen, before, ended, mtimes, again


def test_rerunning_a_killed_sweep_reruns_no_ended_trial_and_continues_the_frozen_one(killed):
    folder, frozen, before, ended, mtimes, again = killed
    assert "finished" in {r["state"] for r in ended.values()}
    assert again.returncode == 1 and BAD in again.stderr  # the sweep's failure, named again
    after = records(folder)
    for name, r in ended.items():  # finished or failed before the kill: never run again
        assert after[name]["attempts"] == 1 and after[name]["state"] == r["state"], name
        log = (folder / name / "output.log").read_text().splitlines()
        assert sum(line.startswith("=== ") for line in log) == 1, name  # one start
    for name, mtime in mtimes.items():
        assert (folder / after[name]["run_dir"] / "metrics.csv").stat().st_mtime_ns == mtime
    # The frozen trial continued its own run directory from its checkpoint.
    resumed = after[frozen]
    assert resumed["state"] == "finished" and resumed["attempts"] == 2
    assert resumed["run_dir"] == before[frozen]["run_dir"]
    assert len(list((folder / frozen).glob("*/config.yaml"))) == 1
    assert (folder / resumed["run_dir"] / "config.resume-1.yaml").is_file()
    assert all(r["state"] in ("finished", "failed") for r in after.values())


def test_a_killed_and_resumed_sweep_ends_with_the_uninterrupted_sweeps_table(grid, killed):
    def table(folder: Path) -> list[dict]:
        drop = ("duration_s", "run_dir")
        return [
            {k: v for k, v in r.items() if k not in drop} for r in csv_rows(folder / "runs.csv")
        ]

    assert table(killed[0]) == table(grid[1])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Three seeds, two at a time, stopped with SIGTERM while the third trains, then the same
    command again."""
    root = tmp_path_factory.mktemp("seeds")
    command = [sys.executable, "-m", "src.sweep", "--seeds", "3", "--parallel", "2", "--threads",
               "1", "--name", "three-seeds", "--root", str(root), "--", *QUIET,
               "--trainer.max_epochs", "12", "--trainer.limit_train_batches", "4"]  # fmt: skip
    folder = root / "three-seeds"
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300

    def training(r: dict) -> bool:  # past its first epoch's checkpoint
        status = read_status(folder / str(r.get("run_dir"))) if r.get("run_dir") else None
        return (status or {}).get("status") == "running" and status.get("global_step", 0) >= 4

    while True:
        trials = records(folder).values()
        if sum(r.get("state") == "finished" for r in trials) == 2 and any(map(training, trials)):
            break
        assert proc.poll() is None and time.monotonic() < deadline, "the third trial never ran"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)  # as SLURM does at a time limit
    stopped = proc.communicate(timeout=300)[0], proc.returncode, records(folder)
    return stopped, run(command), folder


def test_sigterm_stops_a_sweep_and_the_same_command_continues_its_trial(seeds):
    (out, code, before), again, folder = seeds
    assert code == 143 and "SIGTERM: stopping 1 running trial" in out
    states = {name: r["state"] for name, r in before.items()}
    assert states == {"trial-000": "finished", "trial-001": "finished", "trial-002": "interrupted"}
    assert before["trial-002"]["error"] == "stopped by SIGTERM"
    assert again.returncode == 0, again.stderr[-2000:]
    after = records(folder)
    assert [r["attempts"] for r in after.values()] == [1, 1, 2]  # the finished ones never ran again
    resumed = after["trial-002"]
    assert resumed["state"] == "finished" and resumed["run_dir"] == before["trial-002"]["run_dir"]
    assert (folder / resumed["run_dir"] / "config.resume-1.yaml").is_file()  # from its checkpoint


def test_three_seeds_are_grouped_as_mean_and_std_over_n_3(seeds):
    folder = seeds[2]
    rows = csv_rows(folder / "runs.csv")
    assert sorted(r["seed_everything"] for r in rows) == ["0", "1", "2"]
    columns = ("run", "status", "duration_s", "run_dir")
    keys = [c for c in rows[0] if c not in columns and "/" not in c]
    assert keys == ["seed_everything"]  # the only difference between the runs
    (group,) = csv_rows(folder / "runs_by_seed.csv")
    assert group["n"] == "3"
    losses = [float(r["test/loss"]) for r in rows]
    mean = sum(losses) / 3
    std = (sum((x - mean) ** 2 for x in losses) / 2) ** 0.5
    assert float(group["test/loss mean"]) == pytest.approx(mean)
    assert float(group["test/loss std"]) == pytest.approx(std)
    assert std > 0  # the seeds made a difference
    assert f"{mean:.4g} ± {std:.2g}" in (folder / "runs.md").read_text()
