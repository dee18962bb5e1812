import math

from jsonargparse.typing import PositiveInt
from torch import Tensor, nn

from src.arg_types import HalfOpenUnitInterval
from src.nets.inputs import check_dropout


class MLPNet(nn.Module):
    """Fully connected classifier on flattened inputs.

    Args:
        input_shape: Shape of one input ((C, H, W) or (features,)); linked from the datamodule.
        num_classes: Number of output logits; linked from the datamodule.
        hidden_dims: Width of each hidden layer, in order.
        dropout: Dropout probability after each hidden layer.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (1, 28, 28),
        num_classes: int = 10,
        hidden_dims: list[PositiveInt] = [256, 128],  # noqa: B006 - jsonargparse needs a literal
        dropout: HalfOpenUnitInterval = 0.1,
    ):
        super().__init__()
        check_dropout(dropout)
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # (B, num_classes)
