"""Ctrl-C, SIGTERM and SLURM's pre-timeout signal: an exact checkpoint, then a non-zero exit.

During training a signal only raises a flag; at the end of the next training batch every rank
agrees on it, `last.ckpt` is written at that step (loader position and RNG states included, so a
resume continues as if nothing happened) and the run stops with exit code 128 + the signal
(SIGINT: 130). A second Ctrl-C stops at once. Outside training (start-up, testing) a signal stops
the process at once, with the same exit code.
"""

import os
import signal
import subprocess
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunStopped(Exception):
    """Raised to end a run that a signal stopped; the CLI exits with `exit_code`."""

    def __init__(self, signum: int, step: int | None = None):
        self.signum, self.step = signum, step
        where = f" at step {step}" if step is not None else ""
        super().__init__(f"stopped by {signal.Signals(signum).name}{where}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def status(self) -> str:
        return "interrupted" if self.signum == signal.SIGINT else "preempted"


def stop_at_once(signum: int, frame) -> None:
    raise RunStopped(signum)


def install_immediate_stop() -> dict:
    """Outside training: a stop signal ends the process now. Returns the handlers it replaced."""
    return {s: signal.signal(s, stop_at_once) for s in STOP_SIGNALS}


class GracefulStop(Callback):
    """Turns stop signals during `fit` into an exact `last.ckpt` and a `RunStopped` exit.

    Lightning's own SIGTERM handling ends the run with exit code 0 and no checkpoint, and its SLURM
    handler writes `hpc_ckpt_*.ckpt` from inside the signal handler, in the middle of a step.
    Here the handlers of Lightning are replaced for the training loop: SIGINT, SIGTERM and the
    requeue signal of `SLURMEnvironment` (SIGUSR1 unless set otherwise; ask SLURM for it with
    `#SBATCH --signal=USR1@120`) stop at the next batch boundary. With the requeue signal under
    SLURM and `auto_requeue` on (Lightning's default), rank 0 also requeues the job
    (`scontrol requeue`), as Lightning would.
    """

    def __init__(self):
        self.requested = 0  # the signal received, 0 for none
        self._at_epoch_end = 0  # agreed on the epoch's last batch: stop once the epoch is saved
        self._replaced: dict = {}
        self._agreement: _Agreement | None = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.requested = 0
        self._agreement = _Agreement(trainer)
        signals = {*STOP_SIGNALS, _requeue(trainer)[0]}
        self._replaced = {s: signal.signal(s, self._flag) for s in signals if s is not None}

    def _flag(self, signum: int, frame) -> None:
        if self.requested == signal.SIGINT and signum == signal.SIGINT:
            raise RunStopped(signum)  # a second Ctrl-C: now, without a checkpoint
        self.requested = signum  # nothing printed here: a handler writing to a stream the
        # interrupted code is writing to raises "reentrant call"; the stop is reported at the step

    def on_train_batch_end(self, trainer: Trainer, pl_module, outputs, batch, batch_idx) -> None:
        signum = self._agreement.poll(self.requested)
        if not signum or self._at_epoch_end:
            return
        if batch_idx + 1 >= trainer.num_training_batches:
            # The epoch's validation and its end-of-epoch checkpoint come next: stop after them.
            self._at_epoch_end = signum
            trainer.should_stop = True
            return
        self._stop(trainer, signum)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        signum, self._at_epoch_end = self._at_epoch_end, 0
        self.teardown(trainer, pl_module, "fit")
        if signum:
            self._stop(trainer, signum, save=False)  # last.ckpt was written at the epoch's end

    def _stop(self, trainer: Trainer, signum: int, save: bool = True) -> None:
        if save:
            self._save(trainer)
        requeue_signal, job = _requeue(trainer)
        if signum == requeue_signal and job and trainer.is_global_zero:
            _requeue_job(job)
        raise RunStopped(signum, trainer.global_step)

    @staticmethod
    def _save(trainer: Trainer) -> None:
        checkpoint = trainer.checkpoint_callback
        if hasattr(checkpoint, "write_last"):
            checkpoint.write_last(trainer)
        else:
            trainer.save_checkpoint(Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt")

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        for signum, handler in self._replaced.items():
            signal.signal(signum, handler)
        self._replaced = {}
        if self._agreement is not None:
            self._agreement.close()
            self._agreement = None


class _Agreement:
    """Every rank learns, at the same batch, the largest signal number any rank received.

    Each batch starts a non-blocking all-reduce of this rank's flag (on a gloo group: CPU tensors,
    no GPU sync) and reads the one started a batch earlier, long finished by then: a decision one
    batch late, taken by all ranks at the same step, without a host-device sync per step.
    """

    def __init__(self, trainer: Trainer):
        import torch.distributed as dist

        self.dist = dist
        self.distributed = trainer.world_size > 1 and dist.is_available() and dist.is_initialized()
        # A group of its own (every rank creates it, in on_train_start): the flag's collective,
        # still in flight while the step runs, never shares a queue with the strategy's own
        # (DDP's buckets, FSDP's all-gathers, metric syncs), and gloo works on CPU tensors.
        self.group = dist.new_group(backend="gloo") if self.distributed else None
        self.pending = None

    def poll(self, local: int) -> int:
        if not self.distributed:
            return local
        agreed = 0
        if self.pending is not None:
            work, flag = self.pending
            work.wait()
            agreed = int(flag.item())
        flag = torch.tensor([int(local)], dtype=torch.int32)
        work = self.dist.all_reduce(flag, self.dist.ReduceOp.MAX, group=self.group, async_op=True)
        self.pending = (work, flag)
        return agreed

    def close(self) -> None:
        if self.pending is not None:
            self.pending[0].wait()  # every rank posted it: it completes
            self.pending = None
        if self.group is not None:
            self.dist.destroy_process_group(self.group)
            self.group = None


def _requeue(trainer: Trainer) -> tuple[int | None, str | None]:
    """The SLURM requeue signal and the job to requeue, where SLURM auto-requeue applies."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    environment = getattr(trainer.strategy, "cluster_environment", None)
    if environment is None and SLURMEnvironment.detect():
        environment = SLURMEnvironment()
    if not isinstance(environment, SLURMEnvironment):
        return None, None
    job = os.environ.get("SLURM_JOB_ID")
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return environment.requeue_signal, job if environment.auto_requeue else None


def _requeue_job(job: str) -> None:
    try:
        result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    except OSError as error:
        rank_zero_warn(f"could not requeue SLURM job {job}: {error}")
        return
    if result.returncode == 0:
        rank_zero_info(f"Requeued SLURM job {job}: it continues this run when it starts again")
    else:
        rank_zero_warn(f"`scontrol requeue {job}` failed: {result.stderr.strip()}")
