"""Checking a checkpoint before a run uses it: it exists, is whole, is safe and fits the model."""

import pickle
from pathlib import Path

import torch
from torch import nn

from src.errors import UsageError

# Lightning resolves these names itself (`--ckpt_path last` finds the newest last.ckpt).
_SPECIAL_PATHS = ("last", "hpc", "registry", "best")


def is_checkpoint_file(path: str | Path | None) -> bool:
    """A local file to check, not a name Lightning resolves itself nor a remote URL."""
    return path is not None and str(path) not in _SPECIAL_PATHS and "://" not in str(path)


def load_checkpoint(
    path: str | Path, weights_only: bool = True, option: str = "--ckpt_path"
) -> dict:
    """`torch.load` on CPU, with the reasons a file cannot be used turned into one clear line.

    With `weights_only` (the default) only tensors and plain values are unpickled, so a crafted
    file cannot run code; a checkpoint that needs more fails here instead. `option` is the
    command-line option the path came from, named in the messages.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist: check {option}")
    with path.open("rb") as f:
        head = f.read(4)
    if head and not (head.startswith(b"PK\x03\x04") or head[0] == 0x80):  # zip, or a pickle
        raise UsageError(
            f"{path} is not a checkpoint (a PyTorch zip or pickle file): pass a .ckpt file to "
            f"{option}, such as <run>/checkpoints/best.ckpt"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError as error:
        first = (str(error).strip().splitlines() or ["not a pickle"])[0]
        if weights_only and "Weights only load failed" in first:
            fix = (
                "only if you trust its source, pass --weights_only false"
                if option == "--ckpt_path"
                else "save its state_dict() alone instead"
            )
            raise UsageError(
                f"checkpoint {path} holds more than tensors and plain values and was not loaded "
                f"(it could run code); {fix}"
            ) from None
        raise _corrupt(path, first, option) from None
    except Exception as error:  # torch's many ways of reporting a torn zip or a non-checkpoint
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise _corrupt(path, reason.split(". ")[0], option) from None


def _corrupt(path: Path, reason: str, option: str) -> UsageError:
    return UsageError(
        f"checkpoint {path} is truncated or corrupt ({reason}): pass another file to {option}, "
        "e.g. the run's best.ckpt or last.ckpt"
    )


def check_checkpoint(checkpoint: dict, path: str | Path, model: nn.Module) -> None:
    """Fail in one line when `checkpoint` (loaded from `path`) does not fit `model` (wrong class
    or shapes)."""
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise UsageError(f"{path} is not a Lightning checkpoint (no state_dict): check --ckpt_path")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        saved_class = checkpoint.get("hyper_parameters", {}).get("net", {})
        saved_class = saved_class.get("class_path", "?") if isinstance(saved_class, dict) else "?"
        raise UsageError(
            f"checkpoint {path} is from a different model (net {saved_class}; e.g. "
            f"{(missing or unexpected)[0]!r} does not match): pass the config it was trained with"
        )
    for key, tensor in state.items():
        if hasattr(tensor, "shape") and tensor.shape != expected[key].shape:
            raise UsageError(
                f"checkpoint {path} does not fit the model: {key} has shape "
                f"{tuple(tensor.shape)} there, {tuple(expected[key].shape)} here (different "
                "num_classes or net size?); pass the config it was trained with"
            )
