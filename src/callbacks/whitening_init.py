import torch
from lightning.pytorch import Callback, LightningModule, Trainer


class WhiteningInit(Callback):
    """Initialises a net's patch-whitening layer (`AirbenchNet`) from training images.

    Runs at the start of `fit`, on the batches the model will train on (normalised, on the
    device), unless the run resumes from a checkpoint, which already holds the layer.

    Args:
        num_images: How many training images the patch statistics are taken from.
    """

    def __init__(self, num_images: int = 5000):
        self.num_images = num_images

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        net = getattr(pl_module, "net", None)
        if not hasattr(net, "init_whitening") or trainer.ckpt_path is not None:
            return
        datamodule, images, seen = trainer.datamodule, [], 0
        for batch in datamodule.train_dataloader():
            batch = datamodule.on_after_batch_transfer(batch, 0)
            images.append(batch[0].to(pl_module.device))
            seen += len(batch[0])
            if seen >= self.num_images:
                break
        net.init_whitening(torch.cat(images)[: self.num_images])
