from typing import Literal

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MaxMetric, MetricCollection, MinMetric

from src.errors import UsageError
from src.models.optimization import configure_optimizers
from src.models.sharding import shard
from src.optim import WarmupCosine

SPLITS = ("train", "val", "test")
# The model that learns each datamodule `task`, named when the two disagree.
_MODEL_FOR_TASK = {
    "multiclass": "ImageClassifier",
    "multilabel": "MultiLabelClassifier",
    "regression": "Regressor",
}


class ResearchModule(LightningModule):
    """The task-agnostic base of the shipped models; subclass it when it helps (the CLI runs any
    LightningModule, this one or not).

    It gives an injected `net` (`forward` is the net's), an injected optimizer and LR schedule
    whose length comes from the trainer, per-split metrics that cost nothing per step (updated
    on the step, computed, synced and logged once per epoch), the loss per split, and the best
    value of the monitored metric so far (`<monitor>_best`). A subclass implements
    `step(batch, stage)` (or Lightning's own `training_step`...), calling `accumulate` there.

    Optional class attributes, read by the run machinery (each with its fallback):

    - `monitor`, `monitor_mode`: the metric checkpointing and early stopping follow unless
      `--checkpoint.monitor` says otherwise (fallback for any LightningModule: `val/loss`, min).
    - `task`: the datamodule `task` it learns; when both define one they must agree.

    Args:
        net: The network (`nn.Module`) the model trains.
        optimizer: Builds the optimizer from the trainable parameters (default AdamW, lr 1e-3).
        scheduler: Builds the LR scheduler from the optimizer, or null for a constant LR. One with
            a `total_steps` argument (WarmupCosine, OneCycleLR) gets the length of the run.
        scheduler_interval: Step the scheduler after every optimizer step or every epoch.
    """

    monitor: str = "val/loss"
    monitor_mode: Literal["min", "max"] = "min"
    task: str | None = None
    #: Training steps' losses and metric inputs are kept (detached, on their device) and counted
    #: in one batched update on the steps that log, or after this many steps: a torchmetrics
    #: update costs ~0.1-0.2 ms of Python and checks its inputs with a host sync.
    train_update_every: int = 64

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = WarmupCosine,
        scheduler_interval: Literal["step", "epoch"] = "step",
    ):
        super().__init__()
        # Built by the CLI, `net` arrives among the hyperparameters as its config (class_path and
        # init_args, with an `_instantiator` beside it), which lets `load_from_checkpoint(path)`
        # rebuild it without a config file. Built in Python it is a module: weights, which the
        # state dict holds, not something to pickle into the hyperparameters.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"])
        if "_instantiator" in self.hparams:
            self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.net, self.optimizer, self.scheduler = net, optimizer, scheduler
        self.scheduler_interval = scheduler_interval
        self._loss_sums: dict[str, list] = {}  # split -> [sum of losses x samples, samples]
        self._train_pending: list[tuple[Tensor, int, tuple[Tensor, ...]]] = []
        self.val_best = MaxMetric() if self.monitor_mode == "max" else MinMetric()
        self.val_best.persistent(True)  # part of the checkpoint, so a resume keeps the best

    def set_metrics(self, metrics: MetricCollection, train: MetricCollection | None = None):
        """`metrics` for validation and test (and `train` for training batches, if any): copies
        named `<split>_metrics`, logged as `<split>/<name>`."""
        for split, collection in (("train", train), ("val", metrics), ("test", metrics)):
            if collection is not None:
                setattr(self, f"{split}_metrics", collection.clone(prefix=f"{split}/"))

    def __setattr__(self, name: str, value) -> None:
        # Lightning sets `_current_fx_name` (a string) twice around every hook it calls, ~30 times
        # a training step; `nn.Module.__setattr__` checks it against parameters, buffers and
        # submodules each time (~2.5 us, against ~0.2 us here).
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def predict(self, x: Tensor) -> Tensor:
        """What the model predicts for inputs x (`python -m src.export` deploys this)."""
        return self(x)

    def step(self, batch, stage: str):
        """One batch of `stage` (train, val or test): the loss, `accumulate`d; returns the loss or
        a dict with it (and, for the review callbacks, `logits` of a classifier)."""
        raise NotImplementedError(f"{type(self).__name__} implements step(batch, stage)")

    def accumulate(
        self, stage: str, loss: Tensor, *metric_inputs: Tensor, batch_size: int | None = None
    ) -> None:
        """Count `loss` towards the split's epoch mean (weighted by `batch_size`, by default the
        length of the last metric input) and give `metric_inputs` (e.g. predictions and targets)
        to the split's metrics (`update_metrics`). Nothing here waits for the device; training
        steps are counted together on the steps that log (`train_update_every`)."""
        n = batch_size or (len(metric_inputs[-1]) if metric_inputs else 1)
        if stage != "train":
            self._count(stage, [(loss.detach(), n, metric_inputs)])
            return
        self._train_pending.append((loss.detach(), n, tuple(t.detach() for t in metric_inputs)))
        logs = (self.global_step + 1) % max(1, self.trainer.log_every_n_steps) == 0
        if logs or len(self._train_pending) >= self.train_update_every:
            self._count_train_steps()
        if logs:  # ~1 ms of Python: logging steps only. Not `prog_bar`: Lightning reads those
            self.log("train/loss_step", loss)  # after every step (a sync); the bars read it

    def update_metrics(self, metrics: MetricCollection, *inputs: Tensor) -> None:
        """How a split's metrics take `accumulate`'s inputs (for training, several steps' inputs
        joined along the batch dimension); override where a metric wants them reshaped."""
        metrics.update(*inputs)

    def _count_train_steps(self) -> None:
        pending, self._train_pending = self._train_pending, []
        if pending:
            self._count("train", pending)

    def _count(self, stage: str, pending: list[tuple[Tensor, int, tuple[Tensor, ...]]]) -> None:
        _, sizes, inputs = zip(*pending, strict=True)
        totals = [loss.float() * n for loss, n, _ in pending]
        total, n = (torch.stack(totals).sum() if len(totals) > 1 else totals[0]), sum(sizes)
        sums = self._loss_sums.get(stage)
        self._loss_sums[stage] = [total, n] if sums is None else [sums[0] + total, sums[1] + n]
        metrics = getattr(self, f"{stage}_metrics", None)
        if not inputs[0] or metrics is None:
            return
        if len(inputs) == 1:  # one step (validation, test): its inputs as they are
            self.update_metrics(metrics, *inputs[0])
            return
        columns = zip(*inputs, strict=True)
        joined = [torch.cat([t.reshape(-1, *t.shape[1:]) for t in ts]) for ts in columns]
        self.update_metrics(metrics, *joined)

    def predict_step(self, batch, batch_idx: int):
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return {"preds": self.predict(x)}

    def training_step(self, batch, batch_idx: int):
        return self.step(batch, "train")

    def validation_step(self, batch, batch_idx: int):
        return self.step(batch, "val")

    def test_step(self, batch, batch_idx: int):
        return self.step(batch, "test")

    def on_train_epoch_end(self) -> None:
        self._count_train_steps()
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # a few batches of an untrained model are no "best"
            self._reset("val")
            return
        values = self._log_epoch("val")
        if self.monitor in values:
            self.val_best.update(values[self.monitor])
            best = self.val_best.compute()
            self.log(f"{self.monitor}_best", best, prog_bar=True, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def logged_metrics(self) -> list[str]:
        """The names this model logs (checked against `--checkpoint.monitor` before training)."""
        names = ["train/loss_step", "train/loss_epoch", "val/loss", "test/loss"]
        names.append(f"{self.monitor}_best")
        splits = [getattr(self, f"{split}_metrics", None) for split in SPLITS]
        return names + [name for metrics in splits if metrics is not None for name in metrics]

    def _log_epoch(self, stage: str) -> dict[str, Tensor]:
        values = {}
        if stage in self._loss_sums:
            total, n = self._loss_sums.pop(stage)
            # one all-reduce of both sums across DDP ranks: the mean over every sample
            both = torch.stack([total, total.new_tensor(float(n))])
            summed = self.trainer.strategy.reduce(both, reduce_op="sum")
            values["train/loss_epoch" if stage == "train" else f"{stage}/loss"] = (
                summed[0] / summed[1]
            )
        metrics = getattr(self, f"{stage}_metrics", None)
        if metrics is not None:
            values.update(metrics.compute())  # synced across ranks here
        self._reset(stage)
        # Already reduced across ranks; `sync_dist` only tells Lightning so (no second reduce).
        self.log_dict(values, prog_bar=stage == "val", sync_dist=True)
        return values

    def _reset(self, stage: str) -> None:
        self._loss_sums.pop(stage, None)
        if getattr(self, f"{stage}_metrics", None) is not None:
            getattr(self, f"{stage}_metrics").reset()

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        task = getattr(datamodule, "task", None)
        if self.task is not None and task is not None and task != self.task:
            table = f" (or --data.task {self.task})" if hasattr(datamodule, "features") else ""
            raise UsageError(
                f"{type(self).__name__} learns {self.task} targets but {type(datamodule).__name__} "
                f"gives {task} ones: use --model {_MODEL_FOR_TASK.get(task, '...')}{table}"
            )

    def configure_model(self) -> None:
        """Under `ModelParallelStrategy` (configs/presets/fsdp.yaml), shard the net with FSDP2;
        under any other strategy there is no device mesh and nothing to do."""
        if self.device_mesh is not None:
            shard(self.net, self.device_mesh["data_parallel"])

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer, self.scheduler, self.scheduler_interval)
