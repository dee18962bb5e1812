from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from torch import Tensor

from src.plots import for_display, plot_reconstructions


class ValidationReconstructions(Callback):
    """For models whose output is an image of the input's shape (autoencoders, denoisers):
    `reconstructions.png`, the first validation images above the model's outputs for them, once
    at the end of `fit` (or after `validate`), and the same as `val/reconstructions` in W&B.

    It keeps the first `num_images` validation inputs and runs the model on them at the end; a
    model whose output has another shape (a classifier's logits), or data that is not images,
    gets nothing from it, silently.

    Args:
        num_images: Validation images shown.
    """

    def __init__(self, num_images: int = 16):
        self.num_images = num_images
        self._images: Tensor | None = None

    def on_validation_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if trainer.sanity_checking or (self._images is not None and batch_idx > 0):
            return
        x = batch[0] if isinstance(batch, list | tuple) else batch
        if isinstance(x, Tensor) and x.ndim == 4:  # the first batch of each validation
            self._images = x[: self.num_images].detach().clone()

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._report(trainer, pl_module)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.state.fn == "validate":  # in fit, on_fit_end reports the last epoch
            self._report(trainer, pl_module)

    def _report(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._images is None:
            return
        images, training = self._images, pl_module.training
        pl_module.eval()  # every rank runs the model: a sharded (FSDP) net needs them all
        with torch.no_grad(), trainer.precision_plugin.forward_context():
            outputs = pl_module(trainer.precision_plugin.convert_input(images))
        pl_module.train(training)
        if not isinstance(outputs, Tensor) or outputs.shape != images.shape:
            return  # not a reconstruction: nothing to show
        if not trainer.is_global_zero:
            return
        datamodule = trainer.datamodule
        mean, std = getattr(datamodule, "mean", None), getattr(datamodule, "std", None)
        inputs, outputs = for_display(images, mean, std), for_display(outputs, mean, std)
        path = Path(trainer.default_root_dir) / "reconstructions.png"
        plot_reconstructions(inputs, outputs, path)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log(
                    {"val/reconstructions": wandb.Image(str(path)),
                     "trainer/global_step": trainer.global_step}
                )  # fmt: skip
