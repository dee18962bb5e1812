"""What the nets accept, checked when they are built rather than at the first batch."""

from collections.abc import Sequence

from src.errors import UsageError


def image_channels(net: str, input_shape: Sequence[int]) -> int:
    """The channels of the (C, H, W) images a convolutional net is built for."""
    if len(input_shape) != 3:
        raise UsageError(
            f"{net} takes images (C, H, W), but the data gives inputs of shape "
            f"{tuple(input_shape)}: use --model.net MLPNet for rows of features"
        )
    return input_shape[0]


def check_dropout(dropout: float) -> None:
    """What the CLI's type refuses, refused for nets built in Python too."""
    if not 0 <= dropout < 1:
        raise UsageError(f"dropout must be in [0, 1) (1 drops everything), got {dropout}")
