from types import SimpleNamespace

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BackboneFinetuning as _LightningBackboneFinetuning
from lightning.pytorch.callbacks.finetuning import BaseFinetuning
from torch import nn
from torch.optim import Optimizer

from src.errors import UsageError


class NetBackboneFinetuning(_LightningBackboneFinetuning):
    """Lightning's `BackboneFinetuning` for models whose injected net has a `backbone`.

    The backbone is frozen before training and unfrozen at epoch `unfreeze_backbone_at_epoch`
    as its own parameter group, at the head's current LR times `backbone_initial_ratio_lr`, then
    raised by `lambda_func` each epoch up to the head's LR. All arguments are Lightning's;
    `train_bn` applies to the frozen phase too.
    """

    @staticmethod
    def _backbone(pl_module: LightningModule) -> nn.Module:
        backbone = getattr(getattr(pl_module, "net", None), "backbone", None)
        if not isinstance(backbone, nn.Module):
            raise UsageError(
                "NetBackboneFinetuning needs a net with a `backbone` such as TorchvisionNet or "
                f"CifarResNet; {type(getattr(pl_module, 'net', pl_module)).__name__} has none"
            )
        return backbone

    # Lightning's callback reads `pl_module.backbone`; these hand it the net's instead.
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._backbone(pl_module)
        BaseFinetuning.on_fit_start(self, trainer, pl_module)

    def freeze_before_training(self, pl_module: LightningModule) -> None:
        # Lightning keeps BatchNorm trainable while the backbone is frozen whatever `train_bn`
        # says; here `train_bn: false` freezes it too, so a frozen backbone does not change.
        self.freeze(self._backbone(pl_module), train_bn=self.train_bn)

    def finetune_function(self, pl_module: LightningModule, epoch: int, optimizer: Optimizer):
        view = SimpleNamespace(backbone=self._backbone(pl_module))
        super().finetune_function(view, epoch, optimizer)
