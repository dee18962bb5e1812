"""What users get wrong: each mistake exits non-zero with one line naming the problem and the fix,
with no traceback, and leaves earlier runs as they were."""

import socket
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from src.cli import main
from src.models import ImageClassifier
from src.nets import MLPNet
from tests.conftest import FAST, assert_one_error_line, fingerprint, src_command, src_env


def _bad_files(tmp: Path, run: Path) -> dict[str, Path]:
    """Broken inputs written fresh for each case, in their real formats."""
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    five_classes = {**ckpt, "state_dict": dict(ckpt["state_dict"])}
    head = "net.head.3.weight"
    five_classes["state_dict"][head] = ckpt["state_dict"][head][:5]
    five_classes["state_dict"]["net.head.3.bias"] = ckpt["state_dict"]["net.head.3.bias"][:5]
    files = {
        "malformed.yaml": "trainer:\n  max_epochs: [1, 2\n",
        "typo.yaml": "trainer:\n  max_epoch: 3\n",
        "not_a_ckpt.ckpt": "hello, I am a text file\n",
        "empty.yaml": "# settings to come\n",
        "list.yaml": "- trainer.max_epochs: 3\n",
        "twice.yaml": "trainer:\n  max_epochs: 1\nseed_everything: 1\n\ntrainer: {}\n",
    }
    out = {name: tmp / name for name in files}
    for name, text in files.items():
        out[name].write_text(text)
    out["truncated.ckpt"] = tmp / "truncated.ckpt"
    data = (run / "checkpoints" / "last.ckpt").read_bytes()
    out["truncated.ckpt"].write_bytes(data[: len(data) // 2])
    out["five_classes.ckpt"] = tmp / "five_classes.ckpt"
    torch.save(five_classes, out["five_classes.ckpt"])
    # Weights of another model, without hyperparameters that would rebuild it.
    out["mlp_weights.ckpt"] = tmp / "mlp_weights.ckpt"
    torch.save({"state_dict": MLPNet((1, 8, 8), 10, [16]).state_dict()}, out["mlp_weights.ckpt"])
    out["a_file"] = tmp / "a_file"
    out["a_file"].write_text("")
    out["empty_root"] = tmp / "empty_root"
    out["empty_root"].mkdir()
    # Image folders: class folders without images; and one PNG that is not an image.
    out["no_images"] = tmp / "no_images"
    for name in ("cat", "dog"):
        (out["no_images"] / "train" / name).mkdir(parents=True)
    out["corrupt_images"] = tmp / "corrupt_images"
    for name in ("cat", "dog"):
        folder = out["corrupt_images"] / "train" / name
        folder.mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(folder / f"{i}.png")
    (out["corrupt_images"] / "train" / "dog" / "broken.png").write_bytes(b"not a png at all")
    # CSV tables: a target column that is not there, and text in a feature column.
    out["table.csv"] = tmp / "table.csv"
    out["table.csv"].write_text("x1,x2,y\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(20)))
    out["text.csv"] = tmp / "text.csv"
    out["text.csv"].write_text("x1,x2,y\n1,2,0\n3,four,1\n" + "5,6,0\n" * 10)
    return out


# (id, arguments, words the one line must contain: the problem, and what to do about it)
CASES = [
    ("unknown key", ["--model.init_args.no_such_key", "1"], ["no_such_key", "--help"]),
    ("unknown key in yaml", ["--config", "@typo.yaml"], ["max_epoch", "--help"]),
    ("unknown trainer flag", ["--trainer.maxepochs", "3"], ["maxepochs", "--help"]),
    ("wrong type", ["--trainer.max_epochs", "three"], ["trainer.max_epochs", "three"]),
    ("missing config file", ["--config", "configs/no_such.yaml"], ["no_such.yaml", "not exist"]),
    ("malformed yaml", ["--config", "@malformed.yaml"], ["malformed.yaml", "line 3", "fix it"]),
    ("unknown class_path", ["--model.net", "NoSuchNet"], ["model.net", "NoSuchNet"]),
    ("unknown data class", ["--data", "NoSuchDataModule"], ["data", "NoSuchDataModule"]),
    ("batch_size 0", ["--data.batch_size", "0"], ["data.batch_size", "v>0"]),
    ("batch_size negative", ["--data.batch_size", "-8"], ["data.batch_size", "v>0"]),
    ("val_split above 1", ["--data.val_split", "1.5"], ["data.val_split", "v<1"]),
    ("val_split 0", ["--data.val_split", "0"], ["data.val_split", "v>0"]),
    ("unknown precision", ["--trainer.precision", "8"], ["trainer.precision", "8"]),
    ("dataset missing offline", ["--data", "MNISTDataModule", "--data.data_dir", "@empty_root"],
     ["MNIST is not in", "--data.data_dir"]),
    ("checkpoint does not exist", ["--ckpt_path", "/no/such.ckpt"],
     ["/no/such.ckpt", "--ckpt_path"]),
    ("checkpoint of another model", ["--ckpt_path", "@mlp_weights.ckpt"],
     ["different model", "config it was trained with"]),
    ("checkpoint with other num_classes", ["--ckpt_path", "@five_classes.ckpt"],
     ["shape (5, 128) there, (10, 128) here", "num_classes"]),
    ("truncated checkpoint", ["--ckpt_path", "@truncated.ckpt"], ["truncated or corrupt"]),
    ("text file as checkpoint", ["--ckpt_path", "@not_a_ckpt.ckpt"],
     ["not_a_ckpt.ckpt is not a checkpoint", "best.ckpt"]),
    ("a run's config as checkpoint", ["--ckpt_path", "@config.yaml"],
     ["config.yaml is not a checkpoint", "<run>/checkpoints/best.ckpt"]),
    ("more devices than cores", ["--trainer.accelerator", "cpu", "--trainer.devices", "4096"],
     ["--trainer.devices 4096", "use at most"]),
    ("gpu without a gpu", ["--trainer.accelerator", "gpu"], ["no GPU", "accelerator cpu"]),
    ("precision the cpu lacks", ["--trainer.accelerator", "cpu", "--trainer.precision", "16-true"],
     ["16-true", "bf16-mixed"]),
    ("sync batch norm on cpu", ["--trainer.accelerator", "cpu", "--trainer.sync_batchnorm", "true"],
     ["sync_batchnorm", "false"]),
    ("non-finite loss", ["--model.optimizer", "SGD", "--model.optimizer.lr", "1e30",
                         "--model.scheduler", "null", "--trainer.limit_train_batches", "4"],
     ["loss became", "at step", "learning rate"]),
    ("monitor never logged", ["--checkpoint.monitor", "val/accuracy"], ["val/accuracy", "val/acc"]),
    ("resume of a missing run", ["--run.resume", "/no/such/run"],
     ["/no/such/run", "run directory"]),
    ("resume last with no runs", ["--run.resume", "last", "--run.root", "@empty_root"],
     ["no run with a checkpoint under", "--run.root"]),
    ("run root is a file", ["--run.root", "@a_file"],
     ["cannot create the run directory", "--run.root"]),
    ("resume outside fit", ["--run.resume", "last"], ["use it with `fit`"]),
    ("max_epochs 0", ["--trainer.max_epochs", "0"], ["--trainer.max_epochs 0", "trains nothing"]),
    ("max_epochs -2", ["--trainer.max_epochs", "-2"], ["--trainer.max_epochs -2", "-1: no limit"]),
    ("max_steps 0", ["--trainer.max_steps", "0"], ["--trainer.max_steps 0", "positive"]),
    ("no training batches", ["--trainer.limit_train_batches", "0"],
     ["--trainer.limit_train_batches 0", "no batches"]),
    ("accumulate 0 batches", ["--trainer.accumulate_grad_batches", "0"],
     ["--trainer.accumulate_grad_batches 0", "1 (no accumulation)"]),
    ("negative learning rate", ["--model.optimizer.lr", "-0.01"], ["lr -0.01", "positive"]),
    ("endless run with a schedule", ["--trainer.max_epochs", "-1"],
     ["schedule needs the run's length", "--trainer.max_epochs", "--model.scheduler null"]),
    ("resume with another batch size", ["--run.resume", "@run", "--data.batch_size", "7"],
     ["keeps the batch size", "new run"]),
    ("empty image folder", ["--data", "ImageFolderDataModule", "--data.data_dir", "@no_images"],
     ["no readable images", "no_images/train"]),
    ("corrupt image", ["--data", "ImageFolderDataModule", "--data.data_dir", "@corrupt_images"],
     ["broken.png", "--data.bad_files skip"]),
    ("csv missing column", ["--data", "CSVDataModule", "--data.path", "@table.csv",
                            "--data.targets", "[label]"], ["label", "its columns are"]),
    ("csv text in a number column", ["--data", "CSVDataModule", "--data.path", "@text.csv",
                                     "--data.targets", "[y]", "--model", "Regressor",
                                     "--model.net", "MLPNet", "--checkpoint.monitor", "val/mse",
                                     "--checkpoint.mode", "min"], ["text.csv", "must be numeric"]),
    ("config with no settings", ["--config", "@empty.yaml"], ["empty.yaml", "holds nothing"]),
    ("config of a list", ["--config", "@list.yaml"], ["list.yaml", "holds a list", "key: value"]),
    ("config repeating a key", ["--config", "@twice.yaml"],
     ["twice.yaml", "'trainer' twice, on lines 1 and 5"]),
    ("seed below 0", ["--seed_everything", "-1"], ["--seed_everything -1", "0 to 4294967295"]),
    ("seed above 2**32", ["--seed_everything", "4294967296"], ["out of range", "true"]),
    ("negative clipping", ["--trainer.gradient_clip_val", "-1"],
     ["gradient_clip_val -1", "leave it unset"]),
    ("ckpt_path last of a new run", ["--ckpt_path", "last"], ["--ckpt_path last", "--run.resume"]),
    ("ckpt_path best of a new run", ["--ckpt_path", "best"], ["--ckpt_path best", "--run.resume"]),
    ("precision of no kind", ["--trainer.precision", "half"],
     ["not one of", "bf16-mixed", "64-true", "(given: half)"]),
    ("transformer engine on cpu", ["--trainer.precision", "transformer-engine-float16"],
     ["transformer-engine-float16", "not supported on the CPU"]),
    ("monitor of another model", ["--data", "CSVDataModule", "--data.path", "@table.csv",
                                  "--data.targets", "[y]", "--model", "Regressor",
                                  "--model.net", "MLPNet", "--checkpoint.monitor", "val/acc"],
     ["--checkpoint.monitor val/acc", "Regressor", "val/mse"]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_mistake_costs_one_clear_line(args, expected, earlier_run, tmp_path, capsys, monkeypatch):
    def offline(*_, **__):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", offline)  # "dataset missing" must not download
    files = {
        **_bad_files(tmp_path, earlier_run),
        "last.ckpt": earlier_run / "checkpoints/last.ckpt",
        "run": earlier_run,
        "config.yaml": earlier_run / "config.yaml",
    }
    args = [str(files[a[1:]]) if a.startswith("@") else a for a in args]  # "@name": a bad file
    subcommand = "test" if expected == ["use it with `fit`"] else "fit"
    root = earlier_run.parent.parent
    before = fingerprint(root)
    capsys.readouterr()

    with pytest.raises(SystemExit) as exit_info:
        main([subcommand, *FAST, "--run.root", str(root), *args])

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert_one_error_line(err, expected)
    after = fingerprint(root)
    assert {k: v for k, v in after.items() if k in before} == before  # earlier runs untouched
    if "loss became" in err:  # it trained a step: the run stays, recorded as failed
        (run_dir,) = {root / Path(k).parent for k in after.keys() - before.keys()
                      if k.endswith("status.yaml")}  # fmt: skip
        record = yaml.safe_load((run_dir / "status.yaml").read_text())
        assert record["status"] == "failed" and f"error: {record['error']}" == err.strip()
    else:
        assert after == before  # no run directory left behind, nor anything else


def test_a_non_finite_loss_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    main(["fit", *FAST, "--run.test_after_fit", "false", "--run.root", str(tmp_path)])
    (run_dir,) = tmp_path.glob("digits/*/")
    last = run_dir / "checkpoints" / "last.ckpt"
    good = last.read_bytes()
    training_step = ImageClassifier.training_step

    def diverges_in_epoch_1(self, batch, batch_idx):
        loss = training_step(self, batch, batch_idx)
        return loss * float("nan") if self.current_epoch == 1 else loss

    monkeypatch.setattr(ImageClassifier, "training_step", diverges_in_epoch_1)
    with pytest.raises(SystemExit):
        main(["fit", "--run.resume", str(run_dir), "--trainer.max_epochs", "2"])
    assert "loss became nan at step 3 (epoch 1, batch 0)" in capsys.readouterr().err
    assert last.read_bytes() == good


def test_wandb_online_without_a_key_is_one_line_not_a_prompt(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *FAST, "--trainer.logger", "WandbLogger", "--run.root", str(tmp_path)])
    assert exit_info.value.code == 2
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert line.startswith("error: WANDB_MODE=online") and "wandb login" in line, line
    assert not list(tmp_path.iterdir())


def test_a_learning_rate_of_0_trains_with_one_warning_line(tmp_path):
    import warnings

    with pytest.warns(UserWarning, match="lr 0: the weights will not change") as caught:
        main(["fit", *FAST, "--model.optimizer.lr", "0", "--run.root", str(tmp_path)])
    (warning,) = [w for w in caught if "lr 0" in str(w.message)]
    shown = warnings.formatwarning(warning.message, warning.category, warning.filename, 1)
    assert shown == f"warning: {warning.message}\n"  # one line, as the user sees it


def test_lightnings_set_up_lines_do_not_come_before_an_error(tmp_path):
    """Run as a user would: Lightning's 'Seed set to 42', 'GPU available' and the like stay
    unsaid when the run stops before it starts; the `error:` line is what the user sees."""
    proc = subprocess.run(
        src_command("fit", *FAST, "--data", "MNISTDataModule", "--data.data_dir",
                    str(tmp_path / "nothing"), "--run.root", str(tmp_path / "runs")),
        capture_output=True, text=True, env=src_env(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: MNIST is not in"), lines
