from pathlib import Path

import yaml

from src.files import write_atomically


def write_best_config(run_dir: Path, path: Path, note: str, name: str) -> Path:
    """The best trial's resolved config as a file `fit --config` takes: the trial's own run
    settings (its directory under the sweep, its W&B name, the sweep's pruning) left out, so
    `python -m src fit --config best.yaml` trains it again as a run named `name` under logs/."""
    config = yaml.safe_load((Path(run_dir) / "config.yaml").read_text())
    config["run"] = {**(config.get("run") or {}), "name": name, "root": "logs", "resume": None}
    trainer = config.get("trainer") or {}
    trainer["default_root_dir"] = None
    if isinstance(trainer.get("callbacks"), list):
        trainer["callbacks"] = [
            c for c in trainer["callbacks"]
            if not str((c or {}).get("class_path", "")).endswith("OptunaPruning")
        ]  # fmt: skip
    loggers = trainer.get("logger")
    for logger in loggers if isinstance(loggers, list) else [loggers]:
        if isinstance(logger, dict) and str(logger.get("class_path")).endswith("WandbLogger"):
            logger.setdefault("init_args", {})["name"] = None  # named after the new run
    if isinstance(config.get("checkpoint"), dict):
        config["checkpoint"]["dirpath"] = None
    text = yaml.safe_dump(config, sort_keys=False)
    lines = "".join(f"# {line}\n" for line in note.splitlines())
    write_atomically(path, f"{lines}# Train it again: python -m src fit --config {path}\n{text}")
    return Path(path)
