"""Reuse a finished run in Python, with no training: `model, datamodule = load_run(run_dir)`."""

import inspect
import pydoc
from pathlib import Path

from jsonargparse import ArgumentParser
from lightning.pytorch import LightningDataModule, LightningModule

import src.data  # noqa: F401 - resolves the datamodules' class paths
from src.checkpoints import load_checkpoint
from src.errors import UsageError
from src.files import DamagedFile, read_mapping


def load_run(
    run_dir: str | Path, checkpoint: str = "best.ckpt", map_location: str = "cpu"
) -> tuple[LightningModule, LightningDataModule]:
    """The run's model from `checkpoints/<checkpoint>` (in eval mode) and its datamodule.

    The datamodule is rebuilt from the run's config (the latest, for a resumed run) and given
    the state saved in the checkpoint (such as an image folder's class names); call
    `datamodule.setup("predict")` before asking it for data. The model is rebuilt from the
    hyperparameters its checkpoint saved where they are complete (all of this project's
    models), else from the config, with the datamodule's values linked in as the CLI does;
    then the checkpoint's weights are loaded. The checkpoint is read once, weights only (no code
    in it runs).
    """
    from lightning.pytorch.core.saving import _load_state

    from src.cli import link_data_to_model
    from src.runs.resume import latest_config

    run_dir = Path(run_dir)
    config_path, ckpt_path = latest_config(run_dir), run_dir / "checkpoints" / checkpoint
    for path in (config_path, ckpt_path):
        if not path.is_file():
            raise UsageError(f"{run_dir} is not a finished run: {path.name} is missing")
    config = _read_config(config_path)
    state = load_checkpoint(ckpt_path, option=f"load_run({str(run_dir)!r}, checkpoint=...)")
    model_config = config["model"] if isinstance(config["model"], dict) else {}
    model_class = pydoc.locate(str(model_config.get("class_path")))
    if not (isinstance(model_class, type) and issubclass(model_class, LightningModule)):
        raise UsageError(
            f"{config_path}: model.class_path {model_config.get('class_path')} is not an "
            "importable LightningModule; install the package it comes from"
        )
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(LightningDataModule, "data")
    hparams = state.get("hyper_parameters") or {}
    if _has_every_required(model_class, hparams):  # what `load_from_checkpoint` would do
        datamodule = _instantiate(parser, {"data": config["data"]}, config_path).data
        net = _without_pretrained_weights(hparams.get("net"))
        model = _load_state(model_class, state, **({"net": net} if net else {}))
    else:  # a model that saved no (or not all) hyperparameters: as the CLI built it
        parser.add_subclass_arguments(LightningModule, "model")
        link_data_to_model(parser)
        init_args = dict(model_config.get("init_args") or {})
        if _without_pretrained_weights(init_args.get("net")):
            init_args["net"] = _without_pretrained_weights(init_args["net"])
        model_config = {**model_config, "init_args": init_args}
        built = _instantiate(parser, {"data": config["data"], "model": model_config}, config_path)
        datamodule, model = built.data, built.model
        model.on_load_checkpoint(state)
        model.load_state_dict(state["state_dict"])
    if type(datamodule).__qualname__ in state:  # what `datamodule.state_dict()` saved
        datamodule.load_state_dict(state[type(datamodule).__qualname__])
    return model.to(map_location).eval(), datamodule


def _read_config(path: Path) -> dict:
    try:
        config = read_mapping(path) or {}
    except DamagedFile as error:
        raise UsageError(f"{error}: restore the run's config from a copy") from None
    if not {"model", "data"} <= set(config):
        raise UsageError(f"{path} is not a run's config (no model and data sections)")
    return config


def _instantiate(parser: ArgumentParser, values: dict, config_path: Path):
    try:
        return parser.instantiate_classes(parser.parse_object(values))
    except Exception as error:
        while error.__cause__ is not None:  # jsonargparse wraps what the class raised
            error = error.__cause__
        reason = (str(error).strip().splitlines() or [type(error).__name__])[-1].strip(" -")
        raise UsageError(f"{config_path} does not rebuild the run: {reason}") from None


def _has_every_required(model_class: type, hparams: dict) -> bool:
    parameters = list(inspect.signature(model_class.__init__).parameters.values())[1:]
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]  # fmt: skip
    return bool(hparams) and all(name in hparams for name in required)


def _without_pretrained_weights(net) -> dict | None:
    """A net config whose pretrained `weights` are dropped (the checkpoint holds the trained
    ones: no need, or network, for them), or None when it has none."""
    if not (isinstance(net, dict) and (net.get("init_args") or {}).get("weights")):
        return None
    return {**net, "init_args": {**net["init_args"], "weights": None}}
