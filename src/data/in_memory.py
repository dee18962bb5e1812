import torch
from torch import Tensor


class InMemoryLoader:
    """Batches of (images, labels) sliced from tensors already in memory, on any device.

    One random permutation per epoch, drawn on the tensors' device from `seed + epoch`, replaces
    a DataLoader's per-sample indexing, collation and worker processes. Under DDP each rank takes
    an equal, disjoint shard of the permutation, as `DistributedSampler` does.

    Lightning calls `set_epoch` at the start of every training epoch (it looks for it on
    `.sampler`), so the order is reproducible from the seed and reshuffles every epoch, also after
    a resume. `state_dict` (saved in checkpoints by Lightning's fit loop) records how far into the
    epoch it got, so a resume from a mid-epoch checkpoint skips the batches already trained on.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self._batches_yielded = 0
        self._skip = 0

    batch_sampler = None  # Lightning inspects DataLoader-like attributes; there is none

    @property
    def sampler(self) -> "InMemoryLoader":
        return self  # where Lightning's fit loop looks for `set_epoch`

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _num_samples(self) -> int:
        """Samples this rank sees per epoch (shards are padded to equal size, as DDP requires)."""
        return -(-len(self.labels) // self.world_size)

    def __len__(self) -> int:
        n = self._num_samples()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _indices(self) -> Tensor:
        n, device = len(self.labels), self.labels.device
        if self.shuffle:
            generator = torch.Generator(device=device).manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=generator, device=device)
        else:
            order = torch.arange(n, device=device)
        if self.world_size > 1:
            total = self._num_samples() * self.world_size
            order = torch.cat(
                [order, order[: total - n]]
            )  # pad by wrapping, like DistributedSampler
            order = order[self.rank :: self.world_size]
        return order

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batches_yielded": self._batches_yielded}

    def load_state_dict(self, state: dict) -> None:
        # Lightning loads this only when resuming inside an unfinished epoch, before `set_epoch`.
        self._skip = state["batches_yielded"]

    def __iter__(self):
        order = self._indices()
        start, self._skip = self._skip, 0
        self._batches_yielded = start
        for i in range(start, len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            self._batches_yielded = i + 1
            yield self.images[idx], self.labels[idx]
