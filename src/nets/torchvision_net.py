from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from src.checkpoints import load_checkpoint
from src.errors import UsageError
from src.nets.inputs import image_channels

_OPTION = "--model.net.init_args.weights"


class TorchvisionNet(nn.Module):
    """Any torchvision classification model by name, its head replaced for `num_classes`.

    The model's last linear layer becomes `head` (new, randomly initialised); everything before
    it is `backbone`, which `freeze_backbone` or the `NetBackboneFinetuning` callback freeze. Gray
    images are repeated to the three channels the models expect, so pretrained first layers stay
    usable.

    Args:
        input_shape: Shape of one input (C, H, W); linked from the datamodule. C is 1 or 3.
        num_classes: Number of output logits; linked from the datamodule.
        name: A torchvision classification model (`resnet18`, `efficientnet_b0`,
            `mobilenet_v3_small`, ...), see `torchvision.models.list_models()`.
        weights: Pretrained weights: a torchvision weights name (`DEFAULT`, `IMAGENET1K_V1`),
            downloaded once into torch's hub cache; or a path to a saved state dict of the
            same model; or the `.ckpt` of another run with the same net (its backbone, not its
            head); or null for random initialisation.
        freeze_backbone: Train only the new head (the backbone's parameters get no gradient).
        resize_to: Resize inputs to this square size first (pretrained features work better
            near their training resolution than at 28x28); null keeps the input size.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (3, 224, 224),
        num_classes: int = 10,
        name: str = "resnet18",
        weights: str | None = None,
        freeze_backbone: bool = False,
        resize_to: int | None = None,
    ):
        super().__init__()
        from torchvision import models  # imported here: keeps CLI start-up fast

        if image_channels("TorchvisionNet", input_shape) not in (1, 3):
            raise UsageError(f"TorchvisionNet takes 1 or 3 input channels, got {input_shape[0]}")
        if name not in models.list_models(module=models):
            raise UsageError(
                f"unknown torchvision classification model {name!r}; "
                "see torchvision.models.list_models()"
            )
        self.gray, self.resize_to = input_shape[0] == 1, resize_to
        self.backbone = models.get_model(name)
        # jsonargparse hands `null` given on the command line for a nested net over as "None".
        from_run = weights is not None and weights.endswith(".ckpt")
        if weights is not None and weights.lower() not in ("none", "null") and not from_run:
            _load(self.backbone, _pretrained_state_dict(models, name, weights), weights, name)
        parent, attr, old_head = _last_linear(self.backbone, name)
        setattr(parent, attr, nn.Identity())  # the backbone now returns features
        self.head = nn.Linear(old_head.in_features, num_classes)
        if from_run:  # another run's backbone, its head left behind (its classes differ)
            _load(self.backbone, _backbone_of_run(weights), weights, name)
        self.backbone.requires_grad_(not freeze_backbone)

    def forward(self, x: Tensor) -> Tensor:
        if self.gray:
            x = x.expand(-1, 3, -1, -1)  # (B, 1, H, W) -> (B, 3, H, W), no copy
        if self.resize_to is not None:
            x = F.interpolate(x, size=(self.resize_to,) * 2, mode="bilinear", antialias=False)
        return self.head(self.backbone(x))  # (B, num_classes)


def _load(module: nn.Module, state_dict: dict, weights: str, name: str) -> None:
    """`load_state_dict`, with weights of another architecture said in one line."""
    try:
        module.load_state_dict(state_dict)
    except (RuntimeError, TypeError, AttributeError) as error:
        first = str(error).strip().splitlines()[0].removesuffix(":")
        raise UsageError(
            f"{weights} does not hold {name} weights ({first}): pass {_OPTION} a file saved "
            f"from a {name}, or the --model.net.init_args.name it was saved from"
        ) from None


def _pretrained_state_dict(models, name: str, weights: str) -> dict:
    if Path(weights).suffix in (".pt", ".pth", ".ckpt") or Path(weights).exists():
        if not Path(weights).is_file():
            raise UsageError(f"weights file {weights} does not exist")
        return load_checkpoint(weights, option=_OPTION)
    enum = models.get_model_weights(name)
    try:
        entry = enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError:
        raise UsageError(
            f"{name} has no weights {weights!r}; choose from "
            f"{', '.join({'DEFAULT', *enum.__members__})}, a local .pth file, or null"
        ) from None
    try:
        return entry.get_state_dict(progress=False)
    except OSError as error:  # offline: URLError, or a DNS/proxy failure
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(entry.url).name
        raise UsageError(
            f"could not download {name} weights {entry.name} ({error}). Offline, put {entry.url} "
            f"at {cache}, or pass a local file with {_OPTION} <path.pth>"
        ) from None


def _backbone_of_run(ckpt_path: str) -> dict:
    if not Path(ckpt_path).is_file():
        raise UsageError(f"weights file {ckpt_path} does not exist")
    state = load_checkpoint(ckpt_path, option=_OPTION).get("state_dict", {})
    prefix = "net.backbone."
    backbone = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    if not backbone:
        raise UsageError(f"{ckpt_path} has no TorchvisionNet backbone (net.backbone.*)")
    return backbone


def _last_linear(model: nn.Module, name: str) -> tuple[nn.Module, str, nn.Linear]:
    """The classification head: (its parent module, its attribute name, the layer)."""
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UsageError(f"{name} has no linear classification head to replace")
    path, layer = linears[-1]
    parent_path, _, attr = path.rpartition(".")
    return model.get_submodule(parent_path), attr, layer
