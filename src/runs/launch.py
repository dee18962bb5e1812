"""Which process this is, before torch.distributed starts, and how rank 0 tells the others.

A run's directory is decided once, by global rank 0, and handed to every other process through
what its launcher offers:

- Lightning's own launcher (one command, `--trainer.devices N`): the processes it starts inherit
  rank 0's environment, where rank 0 writes what it decided.
- torchrun, one node or many: the elastic agent's key-value store at MASTER_ADDR:MASTER_PORT.
- SLURM `srun` (one task per GPU), and torchrun without an agent store: a small file under the
  run root, named after the job, its step and its requeue count. Every node must see the run root
  (resuming needs that anyway: every rank reads the checkpoint).
"""

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from src.errors import UsageError
from src.files import write_atomically

_PREFIX = "LIGHTNING_RESEARCH_"
_PARENT = _PREFIX + "PARENT_PID"  # set by rank 0: its children know the values are for them
_ERROR = "error: "  # what rank 0 shares when it failed: every rank stops with its line
# How long ranks other than 0 wait for rank 0's decision (it parses and checks first).
SHARE_TIMEOUT_S = float(os.environ.get(_PREFIX + "SHARE_TIMEOUT", "600"))


@dataclass
class Launch:
    """This process's place in the launch, read from the launcher's environment variables.

    Attributes:
        rank: Global rank (0 for the process that decides and writes).
        world_size: Processes the launcher started (1 under Lightning's launcher until it spawns).
        launcher: `single`, `lightning` (a child of Lightning's launcher), `torchrun` or `slurm`.
        job: The scheduler's job, for finding a requeued job's run (`slurm-<id>`), or None.
        attempt: 0 for the first start of the job; the requeue or restart count after that.
    """

    rank: int = 0
    world_size: int = 1
    launcher: str = "single"
    job: str | None = None
    attempt: int = 0
    env: dict = field(default_factory=lambda: os.environ, repr=False)

    @property
    def requeued(self) -> bool:
        return self.attempt > 0

    def share(self, key: str, value: str | None = None, root: str | os.PathLike = "logs") -> str:
        """Rank 0 publishes `value` under `key` (and returns it); every other rank returns it.

        A value starting with `error: ` makes the other ranks raise that error, so a mistake found
        by rank 0 stops every process with the same line instead of leaving them waiting.
        """
        if self.rank == 0:
            value = value or ""
            self._publish(key, value, Path(root))
        else:
            value = self._receive(key, Path(root))
        if self.rank != 0 and value.startswith(_ERROR):
            raise UsageError(value.removeprefix(_ERROR))
        return value

    def share_error(self, key: str, error: Exception, root: str | os.PathLike = "logs") -> None:
        if self.rank == 0:
            self._publish(key, _ERROR + str(error), Path(root))

    def forget(self, root: str | os.PathLike = "logs") -> None:
        """Rank 0, at the end of the run: remove the files it shared through (all ranks read them
        at start-up)."""
        if self.rank == 0 and self.launcher in ("torchrun", "slurm") and self.world_size > 1:
            folder = self._file("x", Path(root)).parent
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                folder.parent.rmdir()  # `.launches/`, when no other launch is using it

    def _publish(self, key: str, value: str, root: Path) -> None:
        # Lightning's launcher copies this process's environment into the ranks it starts.
        self.env[_PARENT] = str(os.getpid())
        self.env[_PREFIX + key.upper()] = value
        if self.launcher == "torchrun" and _agent_store(self.env):
            _agent_store(self.env).set(self._store_key(key), value.encode())
        elif self.launcher in ("torchrun", "slurm") and self.world_size > 1:
            path = self._file(key, root)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, value)

    def _receive(self, key: str, root: Path) -> str:
        if self.launcher == "lightning":
            return self.env.get(_PREFIX + key.upper(), "")
        if self.launcher == "torchrun" and _agent_store(self.env):
            return _agent_store(self.env).get(self._store_key(key)).decode()
        path, deadline = self._file(key, root), time.monotonic() + SHARE_TIMEOUT_S
        while not path.is_file():
            if time.monotonic() > deadline:
                raise UsageError(
                    f"rank {self.rank} waited {SHARE_TIMEOUT_S:.0f} s for rank 0 to write {path}: "
                    "put --run.root on a filesystem that every node sees"
                )
            time.sleep(0.1)
        return path.read_text()

    def _store_key(self, key: str) -> str:
        return f"lightning_research/attempt_{self.attempt}/{key}"

    def _file(self, key: str, root: Path) -> Path:
        env = self.env
        if self.launcher == "slurm":
            name = f"{self.job}.{env.get('SLURM_STEP_ID', 'batch')}.{self.attempt}"
        else:  # torchrun without an agent store: its rendezvous address names the launch
            name = f"torchrun-{env.get('MASTER_ADDR')}-{env.get('MASTER_PORT')}.{self.attempt}"
        return root / ".launches" / name / key


def detect_launch(env: dict | None = None) -> Launch:
    """Read who started this process from the environment variables launchers set."""
    env = os.environ if env is None else env
    slurm_job = f"slurm-{env['SLURM_JOB_ID']}" if env.get("SLURM_JOB_ID") else None
    slurm_attempt = int(env.get("SLURM_RESTART_COUNT") or 0)
    if env.get(_PARENT) == str(os.getppid()) and int(env.get("LOCAL_RANK") or 0) > 0:
        rank = int(env.get("NODE_RANK") or 0) * 1000 + int(env["LOCAL_RANK"])  # any rank but 0
        return Launch(rank, 1, "lightning", slurm_job, slurm_attempt, env)
    if "TORCHELASTIC_RUN_ID" in env:
        run_id = env["TORCHELASTIC_RUN_ID"]
        job = slurm_job or (f"torchrun-{run_id}" if run_id not in ("", "none") else None)
        attempt = int(env.get("TORCHELASTIC_RESTART_COUNT") or 0) + slurm_attempt
        return Launch(int(env["RANK"]), int(env["WORLD_SIZE"]), "torchrun", job, attempt, env)
    if slurm_job:
        tasks = int(env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or 1)
        rank = int(env.get("SLURM_PROCID") or 0)
        return Launch(
            rank, tasks, "slurm" if tasks > 1 else "single", slurm_job, slurm_attempt, env
        )
    return Launch(env=env)


_stores: dict = {}


def _agent_store(env: dict):
    """torchrun's agent store (a client connection to it), where torchrun runs one."""
    if env.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    address = (env["MASTER_ADDR"], int(env["MASTER_PORT"]))
    if address not in _stores:
        from torch.distributed import TCPStore

        _stores[address] = TCPStore(
            *address, is_master=False, timeout=timedelta(seconds=SHARE_TIMEOUT_S)
        )
    return _stores[address]
