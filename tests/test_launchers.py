"""One run whatever starts it: torchrun on one node or two, SLURM's srun, and a requeued job.

Each test starts real processes meeting at 127.0.0.1 on a port nobody else uses (gloo on CPU),
and checks that exactly one run directory, with one config.yaml and its checkpoints, came out.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import free_port, run_dirs, src_command, src_env

TINY = ["--config", "configs/presets/debug.yaml", "--trainer.enable_model_summary", "false",
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
        "--run.test_after_fit", "false"]  # fmt: skip


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *args]


def _finish(procs: list[subprocess.Popen], timeout: float = 300) -> list[str]:
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        outputs.append(out)
        assert proc.returncode == 0, _failure(out)
    return outputs


def _failure(out: str) -> str:
    """Each rank's own last lines: a rank's traceback is often what made the others fail."""
    lines = out.splitlines()
    ranks = sorted({line.split("]:")[0] + "]:" for line in lines if line.startswith("[rank")})
    rest = [line for line in lines if not line.startswith("[rank")]
    parts = ["\n".join(rest[-40:])]
    parts += ["\n".join([line for line in lines if line.startswith(r)][-25:]) for r in ranks]
    return "\n---\n".join(parts)


def _one_run(root: Path) -> Path:
    (run_dir,) = run_dirs(root)  # exactly one, whatever the number of processes
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert not list(root.rglob("*.tmp")) and not (root / ".launches").exists()
    return run_dir


def _status(run_dir: Path) -> dict:
    return yaml.safe_load((run_dir / "status.yaml").read_text())


def _step(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]


@pytest.mark.slow
def test_torchrun_two_processes_make_one_run_and_resume_it_in_place(tmp_path):
    def torchrun(*args):
        command = _torchrun("--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                            "--master-port", str(free_port()), "-m", "src", "fit", *TINY,
                            "--run.root", str(tmp_path), *args)  # fmt: skip
        return subprocess.Popen(command, env=src_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip

    _finish([torchrun()])
    run_dir = _one_run(tmp_path)
    first = _step(run_dir)
    _finish([torchrun("--run.resume", "last", "--trainer.max_epochs", "2")])
    assert _one_run(tmp_path) == run_dir and _step(run_dir) == 2 * first
    assert _status(run_dir)["status"] == "finished" and _status(run_dir)["attempts"] == 2


@pytest.mark.slow
def test_two_torchrun_nodes_meeting_at_localhost_make_one_run(tmp_path):
    port, nodes = free_port(), []
    for rank in (0, 1):
        command = _torchrun("--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node", "1",
                            "--master-addr", "127.0.0.1", "--master-port", str(port), "-m",
                            "src", "fit", *TINY, "--trainer.devices", "1",
                            "--trainer.num_nodes", "2", "--run.root", str(tmp_path))  # fmt: skip
        nodes.append(subprocess.Popen(command, env=src_env(), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))  # fmt: skip
    _finish(nodes)
    run_dir = _one_run(tmp_path)
    assert _status(run_dir)["status"] == "finished"


def _srun(root: Path, restarts: int, port: int, *args: str) -> list[subprocess.Popen]:
    """Two tasks as `srun --ntasks-per-node 2` starts them: SLURM's variables, no launcher."""
    procs = []
    for rank in (0, 1):
        env = src_env(
            SLURM_JOB_ID="4242", SLURM_JOB_NAME="train", SLURM_NTASKS="2",
            SLURM_NTASKS_PER_NODE="2", SLURM_STEP_ID="0", SLURM_STEP_NUM_TASKS="2",
            SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NODEID="0",
            SLURM_NODELIST="127.0.0.1", SLURM_RESTART_COUNT=str(restarts), MASTER_PORT=str(port),
        )  # fmt: skip
        command = src_command("fit", *TINY, "--run.root", str(root), *args)
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))  # fmt: skip
    return procs


@pytest.mark.slow
def test_slurm_tasks_make_one_run_and_a_requeued_job_continues_it(tmp_path):
    # Long enough to be preempted mid-run: 3 epochs of 12 batches, last.ckpt every 2 steps.
    args = ["--trainer.max_epochs", "3", "--trainer.limit_train_batches", "12",
            "--data.batch_size", "8", "--checkpoint.last_every_n_train_steps", "2"]  # fmt: skip
    tasks = _srun(tmp_path, 0, free_port(), *args)
    deadline = time.monotonic() + 240
    while not (dirs := run_dirs(tmp_path)) or not (dirs[0] / "checkpoints/last.ckpt").is_file():
        assert time.monotonic() < deadline and all(t.poll() is None for t in tasks)
        time.sleep(0.1)
    for task in tasks:  # what SLURM does at preemption: SIGTERM to every task
        task.send_signal(signal.SIGTERM)
    for task in tasks:
        out, _ = task.communicate(timeout=120)
        assert task.returncode == 128 + signal.SIGTERM, out[-3000:]
    run_dir = _one_run(tmp_path)
    assert _status(run_dir)["status"] == "preempted" and _status(run_dir)["job"] == "slurm-4242"
    stopped_at = _step(run_dir)
    assert 0 < stopped_at < 36  # 3 epochs x 12 steps (each task takes its own 12 batches)

    _finish(_srun(tmp_path, 1, free_port(), *args))  # the requeue: same job, same command
    assert _one_run(tmp_path) == run_dir
    assert _step(run_dir) == 36 and _status(run_dir)["status"] == "finished"
    assert _status(run_dir)["attempts"] == 2


@pytest.mark.slow
def test_the_fsdp_preset_shards_on_two_processes_and_resumes_like_ddp(tmp_path):
    from src.models import ImageClassifier

    def fit(*args):
        command = src_command("fit", "--config", "configs/presets/debug.yaml", "--config",
                              "configs/presets/fsdp.yaml", "--trainer.accelerator", "cpu",
                              "--trainer.devices", "2", "--trainer.precision", "32-true",
                              "--trainer.enable_model_summary", "false",
                              "--run.test_after_fit", "false", "--run.root", str(tmp_path),
                              *args)  # fmt: skip
        return subprocess.Popen(command, env=src_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip

    _finish([fit()])
    run_dir = _one_run(tmp_path)
    _finish([fit("--run.resume", str(run_dir), "--trainer.max_epochs", "2")])
    assert _one_run(tmp_path) == run_dir and _step(run_dir) == 4
    model = ImageClassifier.load_from_checkpoint(run_dir / "checkpoints" / "best.ckpt")
    assert type(model.net).__name__ == "SmallCNN"  # one full file, not shards: loads anywhere
