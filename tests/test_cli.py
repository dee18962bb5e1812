import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from src.cli import main
from src.models import ImageClassifier
from src.runs import new_run_dir
from tests.conftest import FAST, run_cli

# Experiments whose data is not MNIST-like run their tiny fit in their own test files.
OWN_TESTS = {"cifar10", "cifar10_speedrun", "diabetes_linear", "diabetes_mlp", "transfer_learning"}
EXPERIMENTS = [p for p in sorted(Path("configs").glob("*.yaml")) if p.stem not in OWN_TESTS]
PRESETS = sorted(Path("configs/presets").glob("*.yaml"))


@pytest.mark.parametrize("config", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_experiment_runs_a_tiny_fit(config, mnist_root, tmp_path, capsys):
    # GPU experiments run here on the CPU: the rest of the recipe still applies
    gpu = yaml.safe_load(config.read_text()).get("trainer", {}).get("accelerator") == "gpu"
    run_dir, _ = run_cli(
        ["fit", "--config", str(config), *FAST, "--data.data_dir", str(mnist_root),
         "--run.root", str(tmp_path), *(["--trainer.accelerator", "cpu"] if gpu else [])],
        capsys,
    )  # fmt: skip
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert run_dir.parent.name == config.stem


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_every_preset_stacks_onto_the_default(preset, tmp_path, capsys):
    # GPU presets run here with the accelerator overridden: the rest of the preset still applies
    cpu = [
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "1",
        "--trainer.sync_batchnorm",
        "false",
    ]
    try:
        run_dir, _ = run_cli(
            ["fit", "--config", str(preset), *FAST, *cpu, "--run.root", str(tmp_path)], capsys
        )
    finally:  # the ddp preset on one device starts a process group: end it for later tests
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    for key, value in yaml.safe_load(preset.read_text())["trainer"].items():
        if key not in ("accelerator", "devices", "logger", "sync_batchnorm"):
            assert _contains(saved["trainer"][key], value), key


def _contains(saved, given) -> bool:
    """What a config gave is in the saved config (which also holds every default)."""
    if isinstance(given, dict):
        return isinstance(saved, dict) and all(_contains(saved.get(k), v) for k, v in given.items())
    return saved == given


def test_fit_test_predict_and_reload(tmp_path, capsys):
    run_dir, out = run_cli(
        ["fit", "--config", "configs/digits.yaml", "--trainer.max_epochs", "2",
         "--trainer.enable_progress_bar", "false", "--trainer.logger", "false",
         "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    assert out.count(f"Run directory: {run_dir}") == 2
    assert run_dir.parent == tmp_path / "digits"
    for name in ("config.yaml", "metrics.csv", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    logged = {k for row in rows for k, v in row.items() if v}
    assert {"train/loss_step", "val/loss", "val/acc", "val/acc_best", "test/acc"} <= logged
    fit_test_acc = [float(r["test/acc"]) for r in rows if r["test/acc"]][-1]
    assert fit_test_acc > 0.8  # two epochs on digits already learn most of it

    config, best = str(run_dir / "config.yaml"), str(run_dir / "checkpoints" / "best.ckpt")
    test_dir, out = run_cli(["test", "--config", config, "--ckpt_path", best], capsys)
    assert "test/acc" in out and test_dir.parent == run_dir / "test"
    test_rows = list(csv.DictReader((test_dir / "metrics.csv").open()))
    assert float(test_rows[-1]["test/acc"]) == pytest.approx(fit_test_acc)

    predict_dir, _ = run_cli(["predict", "--config", config, "--ckpt_path", best], capsys)
    rows = list(csv.DictReader((predict_dir / "predictions.csv").open()))
    assert len(rows) == 359  # digits' held-out test split

    # The checkpoint alone rebuilds the model, net included, with no config file.
    model = ImageClassifier.load_from_checkpoint(best, map_location="cpu")
    from src.data import DigitsDataModule

    dm = DigitsDataModule(batch_size=1000)
    dm.setup("predict")
    x, _ = dm.on_after_batch_transfer(next(iter(dm.predict_dataloader())), 0)
    with torch.no_grad():
        probs = model.eval()(x).softmax(-1)
    cli_probs = torch.tensor([[float(r[f"prob/{c}"]) for c in range(10)] for r in rows[:1000]])
    assert torch.allclose(probs, cli_probs, atol=1e-5)


def test_overrides_and_links_reach_the_saved_config(tmp_path, capsys):
    run_dir, _ = run_cli(
        ["fit", *FAST, "--model.optimizer.lr", "0.01", "--model.net", "MLPNet",
         "--model.net.hidden_dims", "[32]", "--run.root", str(tmp_path), "--run.name", "mine"],
        capsys,
    )  # fmt: skip
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert run_dir.parent.name == "mine"
    assert saved["model"]["init_args"]["optimizer"]["init_args"]["lr"] == 0.01
    assert saved["model"]["init_args"]["net"]["class_path"] == "src.nets.MLPNet"
    assert saved["seed_everything"] == 42
    hparams = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)[
        "hyper_parameters"
    ]
    assert hparams["num_classes"] == 10  # linked from the datamodule, written nowhere
    assert hparams["net"]["init_args"]["input_shape"] == (1, 8, 8)


def test_scheduler_steps_per_optimizer_step(tmp_path, capsys):
    run_dir, _ = run_cli(
        ["fit", *FAST, "--trainer.limit_train_batches", "8", "--trainer.max_epochs", "2",
         "--config", "configs/digits.yaml", "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    lrs = [float(r["lr-AdamW"]) for r in rows if r.get("lr-AdamW")]
    assert len(lrs) == 16 and max(lrs) == pytest.approx(1e-3, rel=0.05)
    assert lrs[-1] < 0.05 * max(lrs)  # the cosine reaches ~0 exactly at the last step


def test_bf16_mixed_precision_on_cpu(tmp_path, capsys):
    run_dir, _ = run_cli(
        ["fit", *FAST, "--trainer.precision", "bf16-mixed", "--run.root", str(tmp_path)], capsys
    )
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model.init_args.no_such_key", "1"], "no_such_key"),
        (["--trainer.max_epochs", "three"], "max_epochs"),
        (["--data.batch_size", "0"], "does not conform to restriction v>0"),
        (["--config", "configs/no_such.yaml"], "no_such.yaml"),
    ],
)
def test_bad_input_exits_nonzero_with_a_clear_message(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args, "--run.root", str(tmp_path)])
    assert exit_info.value.code != 0
    assert message in capsys.readouterr().err


def test_same_second_runs_never_share_a_directory(tmp_path):
    dirs = {new_run_dir(tmp_path) for _ in range(20)}
    assert len(dirs) == 20


def test_help_shows_argument_docstrings():
    out = subprocess.run(
        [sys.executable, "-m", "src", "fit", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--run.test_after_fit" in out and "evaluate the best checkpoint" in out


def test_wandb_goes_offline_without_credentials(tmp_path, capsys):
    run_dir, out = run_cli(
        ["fit", *FAST, "--trainer.logger", "WandbLogger", "--run.root", str(tmp_path)], capsys
    )
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    assert f"wandb sync {offline_runs[0]}" in out


def _printed_config(args: list[str], capsys) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args, "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def _datamodules() -> list[type]:
    import src.data

    bases = {"ImageDataModule", "TabularDataModule", "SplitDataModule"}  # subclassed, not run
    return [getattr(src.data, name) for name in src.data.__all__ if name not in bases]


REQUIRED = {"CSVDataModule": ["--data.path", "table.csv", "--data.targets", "[y]"]}


@pytest.mark.parametrize("datamodule", _datamodules(), ids=lambda c: c.__name__)
def test_data_switched_on_the_command_line_runs_with_its_own_defaults(datamodule, capsys):
    import inspect

    name = datamodule.__name__
    saved = _printed_config(["--data", name, *REQUIRED.get(name, [])], capsys)["data"]
    defaults = {
        k: p.default for k, p in inspect.signature(datamodule).parameters.items()
        if p.default is not inspect.Parameter.empty
    }  # fmt: skip
    for key, value in defaults.items():
        shown = saved["init_args"][key]
        expected = list(value) if isinstance(value, tuple) else value
        assert shown == expected or str(shown) == str(expected), (key, shown, value)


def test_a_switched_optimizer_keeps_what_was_set_and_drops_the_old_defaults(capsys):
    sgd = _printed_config(["--model.optimizer", "SGD"], capsys)
    assert sgd["model"]["init_args"]["optimizer"]["init_args"]["weight_decay"] == 0.0  # not AdamW's
    set_first = _printed_config(
        ["--model.optimizer.lr", "0.05", "--model.optimizer", "SGD"], capsys
    )["model"]["init_args"]["optimizer"]["init_args"]
    assert set_first["lr"] == 0.05 and set_first["weight_decay"] == 0.0
