"""Networks: plain `nn.Module`s injected into LightningModules.

Nets take `input_shape` (C, H, W) and, where they end in logits, `num_classes`; the CLI links
both from the datamodule where the net and the datamodule have them.
Nets meant for transfer learning split into `backbone` and `head` (see `NetBackboneFinetuning`).
"""

from src.nets.airbench import AirbenchNet
from src.nets.conv_autoencoder import ConvAutoencoder
from src.nets.conv_net import ConvNet
from src.nets.mlp import MLPNet
from src.nets.resnet import CifarResNet
from src.nets.small_cnn import SmallCNN
from src.nets.torchvision_net import TorchvisionNet

__all__ = [
    "AirbenchNet",
    "CifarResNet",
    "ConvAutoencoder",
    "ConvNet",
    "MLPNet",
    "SmallCNN",
    "TorchvisionNet",
]
