from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MaxMetric, MeanMetric, MinMetric

from src.errors import UsageError
from src.models.optimization import configure_optimizers
from src.models.sharding import shard

# The model that learns each datamodule `task`.
_MODEL_FOR_TASK = {
    "multiclass": "ImageClassifier",
    "multilabel": "MultiLabelClassifier",
    "regression": "Regressor",
}


class SupervisedModule(LightningModule):
    """The training loop every model in `src.models` shares around its injected `net`.

    A subclass builds `train_metrics`, `val_metrics` and `test_metrics` (torchmetrics collections
    prefixed `train/`, `val/`, `test/`) and implements `_shared_step(batch, stage)`: compute the
    loss, update the stage's metrics, hand the loss to `_log_loss`, return `{"loss": ...}`; and
    `predict(x)`, what it predicts for inputs x. This class logs without stalling the loop
    (metrics computed once per epoch, the training loss on logging steps only), tracks the best
    value of `best_metric` as `<best_metric>_best`, and refuses data of another `task`.
    """

    best_metric: str = "val/acc"
    best_mode: str = "max"
    task: str = "multiclass"  # the datamodule `task` this model learns

    def __init__(
        self, net: nn.Module, optimizer: OptimizerCallable, scheduler: LRSchedulerCallable | None
    ):
        super().__init__()
        # Built by the CLI, `net` arrives among the hyperparameters as its config (class_path and
        # init_args, with an `_instantiator` beside it), which lets `load_from_checkpoint(path)`
        # rebuild it without a config file. Built in Python it is a module: weights, which the
        # state dict holds, not something to pickle into the hyperparameters.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"])
        if "_instantiator" in self.hparams:
            self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.net = net
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_loss = MeanMetric()
        self.val_best = MaxMetric() if self.best_mode == "max" else MinMetric()
        self.val_best.persistent(True)  # part of the checkpoint, so a resume keeps the best

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def configure_model(self) -> None:
        """Under `ModelParallelStrategy` (configs/presets/fsdp.yaml), shard the net with FSDP2;
        under any other strategy there is no device mesh and nothing to do."""
        if self.device_mesh is not None:
            shard(self.net, self.device_mesh["data_parallel"])

    def predict(self, x: Tensor) -> Tensor:
        """What the model predicts for inputs x: probabilities, or values (regression)."""
        raise NotImplementedError

    def _shared_step(self, batch, stage: str) -> dict[str, Tensor]:
        raise NotImplementedError

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        task = getattr(datamodule, "task", self.task)
        if task != self.task:
            table = f" (or --data.task {self.task})" if hasattr(datamodule, "features") else ""
            raise UsageError(
                f"{type(self).__name__} learns {self.task} targets but {type(datamodule).__name__} "
                f"gives {task} ones: use --model {_MODEL_FOR_TASK.get(task, '...')}{table}"
            )

    def _log_loss(self, stage: str, loss: Tensor) -> None:
        if stage != "train":  # epoch-level val/test values are reduced across DDP ranks
            self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True)
            return
        # `self.log` costs ~1 ms of Python per call, a lot next to a small model's step: the
        # training loss is logged on the steps the logger writes, its epoch mean kept here.
        self.train_loss.update(loss.detach())
        if (self.global_step + 1) % max(1, self.trainer.log_every_n_steps) == 0:
            self.log("train/loss_step", loss, prog_bar=True)

    def _log_metrics(self, stage: str) -> dict[str, Tensor]:
        """Computed (and synced across DDP ranks) once per epoch: logging the metric objects
        every step costs milliseconds per step, a copy of their state each time."""
        metrics = getattr(self, f"{stage}_metrics")
        values = metrics.compute()
        metrics.reset()
        # Already reduced across ranks by `compute`; `sync_dist` only tells Lightning so (the
        # all-reduce of equal values changes nothing and is skipped on one process).
        self.log_dict(values, prog_bar=stage == "val", sync_dist=True)
        return values

    def training_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        return self._shared_step(batch, "train")

    def on_train_epoch_end(self) -> None:
        self.log("train/loss_epoch", self.train_loss.compute(), sync_dist=True)  # as above
        self.train_loss.reset()
        self._log_metrics("train")

    def validation_step(self, batch, batch_idx: int) -> dict[str, Tensor]:
        return self._shared_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # a few batches of an untrained model are no "best"
            self.val_metrics.reset()
            return
        self.val_best.update(self._log_metrics("val")[self.best_metric])
        name = f"{self.best_metric}_best"
        self.log(name, self.val_best.compute(), prog_bar=True, sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def configure_optimizers(self):
        return configure_optimizers(
            self, self.optimizer, self.scheduler, self.hparams.scheduler_interval
        )
