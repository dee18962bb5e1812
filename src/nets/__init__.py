"""Networks: plain `nn.Module`s injected into LightningModules.

Every net takes `input_shape` (C, H, W) and `num_classes`; the CLI links both from the datamodule.
"""

from src.nets.airbench import AirbenchNet
from src.nets.mlp import MLPNet
from src.nets.small_cnn import SmallCNN

__all__ = ["AirbenchNet", "MLPNet", "SmallCNN"]
