"""Export a trained model: `python -m src.export <run dir or checkpoint> --format onnx|torchscript`.

The exported model is the LightningModule's `forward` (inputs normalised as the datamodule
does it, outputs logits or regression values) for inputs of the datamodule's `input_shape`,
any batch size. It is written to `<run>/export/model.onnx` or `model.pt` unless `--output`
says otherwise.
"""

import argparse
import sys
from pathlib import Path
from typing import Literal

import torch

from src.errors import UsageError
from src.load_run import load_run
from src.runs import run_dir_of_checkpoint


def export(
    run: str | Path,
    format: Literal["onnx", "torchscript"] = "onnx",
    output: str | Path | None = None,
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
    example = torch.randn(2, *datamodule.input_shape)  # (B, ...) any batch size after export
    suffix = ".onnx" if format == "onnx" else ".pt"
    path = Path(output) if output else run_dir / "export" / f"model{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "torchscript":
        torch.jit.save(model.to_torchscript(method="trace", example_inputs=example), path)
    else:
        model.to_onnx(
            path,
            example,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            dynamo=False,  # the TorchScript-based exporter: no onnxscript needed
        )
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m src.export", description=__doc__)
    parser.add_argument("run", help="a run directory (uses checkpoints/best.ckpt) or a .ckpt")
    parser.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    parser.add_argument("--output", help="file to write (default <run>/export/model.<ext>)")
    args = parser.parse_args(argv)
    try:
        path = export(args.run, args.format, args.output)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except ImportError as error:
        print(f"error: {error.name} is needed: pip install -e '.[onnx]'", file=sys.stderr)
        sys.exit(2)
    print(f"Exported: {path}")


if __name__ == "__main__":
    main()
