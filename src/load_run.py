"""Reuse a finished run in Python, with no training: `model, datamodule = load_run(run_dir)`."""

from pathlib import Path

import yaml
from jsonargparse import ArgumentParser
from lightning.pytorch import LightningDataModule, LightningModule

import src.data  # noqa: F401 - resolves the datamodules' class paths
from src.checkpoints import load_checkpoint
from src.errors import UsageError


def load_run(
    run_dir: str | Path, checkpoint: str = "best.ckpt", map_location: str = "cpu"
) -> tuple[LightningModule, LightningDataModule]:
    """The run's model from `checkpoints/<checkpoint>` (in eval mode) and its datamodule.

    The datamodule is rebuilt from the run's `config.yaml` and given the state saved in the
    checkpoint (such as an image folder's class names). Call `datamodule.setup("predict")`
    before asking it for data. The checkpoint is read once, weights only (no code in it runs).
    """
    from lightning.pytorch.core.saving import _load_state

    run_dir = Path(run_dir)
    config_path, ckpt_path = run_dir / "config.yaml", run_dir / "checkpoints" / checkpoint
    for path in (config_path, ckpt_path):
        if not path.is_file():
            raise UsageError(f"{run_dir} is not a finished run: {path.name} is missing")
    config = yaml.safe_load(config_path.read_text())
    parser = ArgumentParser()
    parser.add_subclass_arguments(LightningDataModule, "data")
    datamodule = parser.instantiate(parser.parse_object({"data": config["data"]})).data

    module_path, class_name = config["model"]["class_path"].rsplit(".", 1)
    model_class = getattr(__import__(module_path, fromlist=[class_name]), class_name)
    state = load_checkpoint(ckpt_path, option=f"load_run({str(run_dir)!r}, checkpoint=...)")
    overrides = {}
    net = state.get("hyper_parameters", {}).get("net")
    if isinstance(net, dict) and net.get("init_args", {}).get("weights"):
        # The checkpoint holds the trained weights: no need (or network) for pretrained ones.
        overrides["net"] = {**net, "init_args": {**net["init_args"], "weights": None}}
    # What `load_from_checkpoint` does once it has read the file, which it would read again.
    model = _load_state(model_class, state, **overrides).to(map_location)
    if type(datamodule).__qualname__ in state:  # what `datamodule.state_dict()` saved
        datamodule.load_state_dict(state[type(datamodule).__qualname__])
    return model.eval(), datamodule
