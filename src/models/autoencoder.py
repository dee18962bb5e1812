from typing import Literal

import torch
import torch.nn.functional as F
from jsonargparse.typing import NonNegativeFloat
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MetricCollection

from src.models.research_module import ResearchModule
from src.optim import WarmupCosine


class Autoencoder(ResearchModule):
    """Reconstruction of its inputs through an injected `net` (such as `ConvAutoencoder`); with
    `noise_std` > 0 a denoising autoencoder, which sees corrupted training inputs and learns to
    give back the clean ones. Labels, where the data has them, are not used.

    Logs `{train,val,test}/loss`, the mean squared error of the reconstruction in the units the
    datamodule gives the inputs in (normalised pixels), and `{val,test}/mae`, their mean absolute
    error; checkpointing follows `val/loss`, the base's default.
    `predict` gives the reconstructions; the `ValidationReconstructions` callback draws them
    beside their inputs in `reconstructions.png`.

    Args:
        net: The network mapping inputs (B, ...) to outputs of the same shape.
        noise_std: Standard deviation of the Gaussian noise added to training inputs (0: a plain
            autoencoder), in the units of the normalised inputs.
        optimizer: Builds the optimizer from the trainable parameters (default AdamW, lr 1e-3).
        scheduler: Builds the LR scheduler from the optimizer, or null for a constant LR.
        scheduler_interval: Step the scheduler after every optimizer step or every epoch.
    """

    def __init__(
        self,
        net: nn.Module,
        noise_std: NonNegativeFloat = 0.0,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        scheduler: LRSchedulerCallable | None = WarmupCosine,
        scheduler_interval: Literal["step", "epoch"] = "step",
    ):
        super().__init__(net, optimizer, scheduler, scheduler_interval)
        self.noise_std = noise_std
        self.set_metrics(MetricCollection({"mae": MeanAbsoluteError()}))

    def step(self, batch, stage: str) -> Tensor:
        x = batch[0] if isinstance(batch, list | tuple) else batch  # labels, if any, unused
        noisy = x + self.noise_std * torch.randn_like(x) if stage == "train" else x
        reconstruction = self(noisy)
        loss = F.mse_loss(reconstruction, x)
        self.accumulate(stage, loss, reconstruction.detach(), x)
        return loss
