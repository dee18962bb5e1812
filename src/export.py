"""Export a trained model: `python -m src.export <run dir or checkpoint> --format onnx|pt2`.

The exported model takes raw inputs: images channels first at the datamodule's `input_shape`,
as float32 pixels in [0, 1] or, with `--input_dtype uint8`, 0-255; table rows as the feature
columns' own values. It normalises them inside, as training did, and returns what the model's
`predict_step` predicts: class (or label) probabilities, or regression values in the target's
units; for any batch size. It is written to `<run>/export/model.onnx` (ONNX, through
`torch.export`) or `model.pt2` (`torch.export.save`, for `torch.export.load`) unless `--output`
says otherwise, with `model.json` beside it: the classes, input shape and dtype, preprocessing.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from src.errors import UsageError
from src.load_run import load_run
from src.runs import run_dir_of_checkpoint


class DeployedModel(nn.Module):
    """Raw inputs -> the datamodule's normalisation -> the model's `predict` (-> target units)."""

    def __init__(self, model: nn.Module, normalize: nn.Module, target_scale: nn.Module | None):
        super().__init__()
        self.model, self.normalize, self.target_scale = model, normalize, target_scale

    def forward(self, x: Tensor) -> Tensor:
        predict = getattr(self.model, "predict", self.model)  # ResearchModule's, else forward
        out = predict(self.normalize(x))  # (B, num_classes)
        return out if self.target_scale is None else self.target_scale.inverse(out)


_NEEDED = ("input_shape", "normalize", "num_classes", "classes")


def export(
    run: str | Path,
    format: Literal["onnx", "pt2"] = "onnx",
    output: str | Path | None = None,
    input_dtype: Literal["float32", "uint8"] = "float32",
) -> Path:
    """Export a run's best checkpoint (or the checkpoint `run` names); return the file."""
    run = Path(run)
    if run.suffix == ".ckpt":
        run_dir = run_dir_of_checkpoint(run)
        if run_dir is None:
            raise UsageError(f"{run} is not inside a run directory (<run>/checkpoints/x.ckpt)")
        model, datamodule = load_run(run_dir, checkpoint=run.name)
    else:
        run_dir = run
        model, datamodule = load_run(run_dir)
    datamodule.setup("predict")  # fits what normalisation needs (a table's column statistics)
    missing = [name for name in _NEEDED if not hasattr(datamodule, name)]
    if missing:
        raise UsageError(
            f"{type(datamodule).__name__} has no {', '.join(missing)}: export builds the deployed "
            "model from the datamodule's input shape, normalisation and classes (src.data's "
            "datamodules have them); add them, or torch.export the model's predict yourself"
        )
    image = len(datamodule.input_shape) == 3
    if input_dtype == "uint8" and not image:
        raise UsageError("--input_dtype uint8 is for images; table rows are float32 values")
    deployed = DeployedModel(
        model, datamodule.normalize, getattr(datamodule, "target_scale", None)
    ).eval()
    dtype = getattr(torch, input_dtype)
    example = (torch.rand(2, *datamodule.input_shape) * (255 if dtype == torch.uint8 else 1)).to(
        dtype
    )
    batch = torch.export.Dim("batch")  # any batch size, 1 included
    with torch.no_grad():
        program = torch.export.export(deployed, (example,), dynamic_shapes=({0: batch},))
        output_shape = list(deployed(example).shape[1:])
    path = Path(output) if output else run_dir / "export" / f"model.{format}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "pt2":
        torch.export.save(program, path)
    else:
        onnx = torch.onnx.export(
            program, input_names=["input"], output_names=["output"], dynamo=True, verbose=False
        )
        onnx.save(path)
    metadata = _metadata(model, datamodule, input_dtype, output_shape)
    path.with_name(path.stem + ".json").write_text(json.dumps(metadata, indent=2) + "\n")
    return path


def _metadata(model, datamodule, input_dtype: str, output_shape: list[int]) -> dict:
    """What a deployment needs to know to feed the model and read its outputs."""
    shape = list(datamodule.input_shape)
    if len(shape) == 3:
        inputs = (
            f"images (batch, {', '.join(map(str, shape))}), channels first, "
            f"{'gray' if shape[0] == 1 else 'RGB'}, "
            + ("pixels 0-255" if input_dtype == "uint8" else "pixels scaled to [0, 1]")
        )
        preprocessing = {"mean": list(datamodule.mean), "std": list(datamodule.std)}
    else:
        inputs = f"rows (batch, {shape[0]}) of the feature columns' values, in this order"
        preprocessing = {"mean": datamodule.normalize.mean.tolist(),
                         "std": datamodule.normalize.std.tolist()}  # fmt: skip
    if getattr(datamodule, "hparams", {}).get("image_size"):
        preprocessing["resize"] = [datamodule.hparams.image_size] * 2
    outputs = {"ImageClassifier": "class probabilities (softmax)",
               "MultiLabelClassifier": "per-label probabilities (sigmoid)",
               "Regressor": "predicted values in the targets' units",
               "Autoencoder": "reconstructed images, normalised as the inputs are"}  # fmt: skip
    return {
        "input": {"name": "input", "shape": ["batch", *shape], "dtype": input_dtype,
                  "what": inputs},
        "preprocessing": {"inside the model": "normalisation: (x - mean) / std", **preprocessing},
        "output": {"name": "output", "shape": ["batch", *output_shape],
                   "what": outputs.get(type(model).__name__, "the model's predictions")},
        "classes": [str(c) for c in datamodule.classes],
        **({"features": list(datamodule.features)} if hasattr(datamodule, "features") else {}),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m src.export", description=__doc__)
    parser.add_argument("run", help="a run directory (uses checkpoints/best.ckpt) or a .ckpt")
    parser.add_argument("--format", choices=["onnx", "pt2"], default="onnx")
    parser.add_argument("--output", help="file to write (default <run>/export/model.<format>)")
    parser.add_argument("--input_dtype", choices=["float32", "uint8"], default="float32",
                        help="images as [0, 1] floats or 0-255 bytes")  # fmt: skip
    parser.error = _one_line_error  # type: ignore[method-assign]
    args = parser.parse_args(argv)
    try:
        path = export(args.run, args.format, args.output, args.input_dtype)
    except UsageError as error:
        _one_line_error(str(error))
    except ImportError as error:
        _one_line_error(f"{error.name} is needed for --format onnx: pip install -e '.[onnx]'")
    print(f"Exported: {path} (and {path.stem}.json)")


def _one_line_error(message: str) -> None:
    if "invalid choice: 'torchscript'" in message:
        message += " (TorchScript is deprecated in PyTorch: use --format pt2 or onnx)"
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
