"""What a run leaves for review: the W&B record (read back from W&B's own files), PNGs, sweeps."""

import json
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from jsonargparse import Namespace
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

from src.callbacks import ValidationPredictions
from src.cli import main
from tests.conftest import FAST, run_cli

SWEEPS = sorted(Path("configs/sweeps").glob("*.yaml"))
REVIEW_FILES = (
    "config.yaml",
    "summary.yaml",
    "predictions.png",
    "confusion_matrix.png",
    "curves.png",
)


@pytest.fixture(autouse=True)
def _wandb_files_in_tmp(monkeypatch, tmp_path):
    """Offline runs stage artifacts (config.yaml, tables) in W&B's data dir: keep it in tmp."""
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))


def wandb_record(run_dir: Path) -> tuple[dict, list[dict]]:
    """The run as W&B wrote it: `wandb leet inspect` reads the offline run's .wandb log."""
    (offline_run,) = (run_dir / "wandb").glob("offline-run-*")

    def leet(*args: str) -> str:
        command = ["wandb", "leet", "inspect", *args, str(offline_run)]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    records = [json.loads(line) for line in leet("--json").splitlines() if line.strip()]
    return json.loads(leet("--summary", "--json")), records


def test_offline_wandb_run_holds_the_nested_config_summary_and_media(tmp_path, capsys, monkeypatch):
    args = [
        "fit", *FAST, "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "6",
        "--model.optimizer.lr", "0.004",
        "--trainer.logger", "WandbLogger", "--trainer.logger.project", "review",
        "--trainer.logger.log_model", "true", "--trainer.logger.name", "first-try",
        "--trainer.logger.group", "lr-study", "--trainer.logger.tags", "[cnn, digits]",
        "--trainer.logger.notes", "checking the review", "--run.root", str(tmp_path),
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["src/__main__.py", *args])  # as `python -m src <args>`
    run_dir, out = run_cli(args, capsys)
    summary, records = wandb_record(run_dir)

    # The run's config is the CLI's nested config, not save_hyperparameters' flat dicts.
    config = summary["config"]
    assert {"model", "data", "trainer", "checkpoint", "seed_everything"} <= config.keys()
    assert config["model"]["init_args"]["optimizer"]["init_args"]["lr"] == 0.004
    assert config["trainer"]["max_epochs"] == 2
    assert not {"batch_size", "num_classes", "net", "label_smoothing"} & config.keys()
    artifacts = [r["artifact"] for r in records if r.get("type") == "artifact"]
    config_artifact = next(a for a in artifacts if a["type"] == "config")
    assert [f["path"] for f in config_artifact["manifest"]["contents"]] == ["config.yaml"]

    assert (summary["name"], summary["project"], summary["notes"]) == (
        "first-try", "review", "checking the review"
    )  # fmt: skip
    assert summary["tags"] == ["cnn", "digits"]
    run_record = next(r["run"] for r in records if r.get("type") == "run")
    assert run_record["run_group"] == "lr-study"

    values = summary["summary"]
    assert values["params"]["total"] == values["params"]["trainable"] > 1000
    assert values["versions"]["torch"] == torch.__version__.split("+")[0]
    assert "--model.optimizer.lr 0.004" in values["command"]
    assert set(values["git"]) == {"commit", "dirty"}
    assert 0 <= values["best"]["val/acc"] <= 1 and values["best"]["checkpoint"].endswith(".ckpt")
    assert values["train/samples_per_sec"] > 0  # measured between logging steps
    assert "test/acc" in values
    assert values["val/predictions"]["_type"] == "table-file"
    assert values["val/predictions"]["nrows"] > 0
    assert values["val/confusion_matrix_table"]["nrows"] > 0

    # Offline, W&B cannot take model artifacts: said once, checkpoints kept, no crash.
    assert out.count("W&B is offline: checkpoints stay in") == 1
    assert not any(a["type"] == "model" for a in artifacts)
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    for name in REVIEW_FILES:
        assert (run_dir / name).stat().st_size > 0, name
    saved = yaml.safe_load((run_dir / "summary.yaml").read_text())
    assert saved["test"]["test/acc"] == pytest.approx(values["test/acc"])


@pytest.mark.parametrize("preset", ["csv", "tensorboard"])
def test_csv_and_tensorboard_presets_get_the_pngs_without_wandb(preset, tmp_path, capsys):
    if preset == "tensorboard":
        pytest.importorskip("tensorboard", reason='needs pip install -e ".[tensorboard]"')
    run_dir, _ = run_cli(
        ["fit", *FAST, "--config", f"configs/presets/{preset}.yaml", "--run.root", str(tmp_path)],
        capsys,
    )
    assert not (run_dir / "wandb").exists()
    for name in (*REVIEW_FILES, "metrics.csv", "checkpoints/last.ckpt"):
        assert (run_dir / name).stat().st_size > 0, name
    if preset == "tensorboard":  # TensorBoard's copy of the nested config, for its HPARAMS tab
        hparams = yaml.safe_load((run_dir / "hparams.yaml").read_text())
        assert hparams["data"]["class_path"] == "src.data.DigitsDataModule"
        assert list(run_dir.glob("events.out.tfevents.*"))
    else:  # config.yaml is the config: no second copy
        assert not (run_dir / "hparams.yaml").exists()


def test_predictions_keep_the_first_samples_and_the_most_confident_mistakes():
    callback = ValidationPredictions(num_samples=3, num_mistakes=2)
    callback.on_validation_epoch_start(None, None)
    trainer = SimpleNamespace(sanity_checking=False)
    # logits favour class 0 with confidence growing along the split; labels: even i -> 0, odd -> 1
    for start in (0, 4):
        index = torch.arange(start, start + 4)
        logits = torch.stack([index.float(), torch.zeros(4)], dim=1)
        batch = (index.view(4, 1, 1, 1).float(), index % 2)
        callback.on_validation_batch_end(trainer, None, {"logits": logits}, batch, 0)
    images, targets, preds, confidences = callback.mistakes
    assert images.flatten().tolist() == [7, 5]  # wrong (odd, predicted 0), most confident first
    assert confidences[0] > confidences[1] and (preds != targets).all()
    assert callback.samples[0].flatten().tolist() == [0, 1, 2]
    assert torch.cat(callback.targets).tolist() == [0, 1] * 4


def sample(parameters: dict, rng: random.Random) -> dict:
    """Draw one trial's values the way W&B's random search does, for the distributions we use."""
    draws = {
        "values": lambda p: rng.choice(p["values"]),
        "log_uniform_values": lambda p: p["min"] * (p["max"] / p["min"]) ** rng.random(),
        "uniform": lambda p: rng.uniform(p["min"], p["max"]),
        "int_uniform": lambda p: rng.randint(p["min"], p["max"]),
    }
    return {
        key: draws["values" if "values" in p else p["distribution"]](p)
        for key, p in parameters.items()
    }


def agent_command(sweep: dict, values: dict) -> list[str]:
    """The command line `wandb agent` runs for these values (its macros, its args rendering)."""
    macros = create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})
    macros |= {"env": [], "interpreter": [sys.executable], "program": [sweep["program"]]}
    command = []
    for part in sweep["command"]:
        command += macros[part[2:-1]] if part.startswith("${") else [part]
    return command


@pytest.mark.parametrize("sweep_file", SWEEPS, ids=lambda p: p.stem)
def test_a_sampled_sweep_trial_runs_and_logs_the_sweep_metric(sweep_file, tmp_path, capsys):
    sweep = yaml.safe_load(sweep_file.read_text())
    values = sample(sweep["parameters"], random.Random(0))
    command = agent_command(sweep, values)
    assert command[:4] == [sys.executable, "-m", "src", "fit"]
    quick = ["--trainer.max_steps", "2", "--trainer.limit_train_batches", "2",
             "--trainer.limit_val_batches", "2", "--run.test_after_fit", "false",
             "--trainer.enable_progress_bar", "false", "--run.root", str(tmp_path)]  # fmt: skip
    run_dir, _ = run_cli([*command[3:], *quick], capsys)

    summary, _ = wandb_record(run_dir)
    assert sweep["metric"]["name"] in summary["summary"]  # the sweep optimises a logged metric
    for key, value in values.items():  # every dotted key reached the nested config
        node = summary["config"]
        for part in key.split("."):
            node = node[part] if part in node else node["init_args"][part]
        assert node == pytest.approx(value)


def test_a_crashing_sweep_trial_exits_nonzero_with_a_clear_error(tmp_path, capsys):
    sweep = yaml.safe_load(SWEEPS[0].read_text())
    command = agent_command(sweep, {"data.batch_size": 0})  # a value no trial can run with
    with pytest.raises(SystemExit) as trial:  # in-process: what the agent's subprocess would do
        main([*command[3:], "--run.root", str(tmp_path)])
    assert trial.value.code == 2  # the agent marks the trial failed and starts the next one
    err = capsys.readouterr().err
    assert "error: " in err and "batch_size" in err and "v>0" in err
    # Each trial is its own process and run directory: nothing is left behind for the next one.
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_checkpoints_go_to_wandb_online_and_stay_local_offline(mode, monkeypatch, capsys):
    import src.runs.run_loggers

    monkeypatch.setattr(src.runs.run_loggers, "choose_wandb_mode", lambda: mode)
    monkeypatch.setattr(src.runs.run_loggers, "has_wandb_credentials", lambda: mode == "online")
    wandb_logger = Namespace(
        class_path="lightning.pytorch.loggers.WandbLogger", init_args=Namespace(log_model=True)
    )
    loggers, notes = src.runs.run_loggers.point_loggers_at(wandb_logger, Path("logs/x/run"), "x")
    assert loggers[0].init_args.log_model is (mode == "online")
    assert loggers[0].init_args.offline is (mode == "offline")
    said = sum("checkpoints stay in logs/x/run/checkpoints" in note for note in notes)
    assert said == (mode == "offline")
