"""The second kind of task shipped: a (denoising) autoencoder, with its own review PNG; the review
callbacks of the classifiers stay silent for it, and its own for them."""

import warnings

import pytest
import torch
import yaml

from src.load_run import load_run
from src.models import Autoencoder, ImageClassifier
from src.nets import ConvAutoencoder
from tests.conftest import FAST, run_cli

AUTOENCODER = ["--config", "configs/mnist_autoencoder.yaml", *FAST]


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32), (1, 5, 7)])
def test_conv_autoencoder_gives_back_the_input_shape(shape):
    net = ConvAutoencoder(shape, channels=[4, 8], latent_dim=6)
    x = torch.randn(2, *shape)
    assert net(x).shape == x.shape and net.encode(x).shape == (2, 6)


def test_the_autoencoder_config_trains_and_draws_its_reconstructions(mnist_root, tmp_path, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_dir, _ = run_cli(["fit", *AUTOENCODER, "--data.data_dir", str(mnist_root),
                                "--run.root", str(tmp_path)], capsys)  # fmt: skip
    shown = [w for w in caught if not issubclass(w.category, DeprecationWarning)]  # as users see
    ours = [str(w.message) for w in shown if "/src/" in w.filename]
    assert not ours, ours  # no review callback complains about a task it does not draw
    pngs = {p.name for p in run_dir.glob("*.png")}
    assert pngs == {"reconstructions.png", "curves.png"}  # no predictions or confusion matrix
    assert (run_dir / "reconstructions.png").stat().st_size > 5000
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (config["checkpoint"]["monitor"], config["checkpoint"]["mode"]) == ("val/loss", "min")
    summary = yaml.safe_load((run_dir / "summary.yaml").read_text())
    assert {"test/loss", "test/mae"} <= set(summary["test"]) and "val/loss" in summary["best"]
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val/loss", "val/mae", "val/loss_best", "train/loss_epoch"} <= set(header)

    # back from its checkpoint, with its net, without a config, and through load_run
    best = run_dir / "checkpoints" / "best.ckpt"
    hparams = torch.load(best, weights_only=True)["hyper_parameters"]
    assert "num_classes" not in hparams and "num_classes" not in hparams["net"]["init_args"]
    model = Autoencoder.load_from_checkpoint(best).eval()
    loaded, _ = load_run(run_dir)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x)) and model(x).shape == x.shape

    # predict writes the reconstructions, one image per input
    run_cli(["predict", "--config", str(run_dir / "config.yaml"), "--ckpt_path", str(best)],
            capsys)  # fmt: skip
    (saved,) = run_dir.glob("predict/*/predictions.pt")
    predictions = torch.load(saved, weights_only=True)
    assert predictions["preds"].shape[1:] == (1, 28, 28)
    assert predictions["index"].tolist() == list(range(len(predictions["preds"])))


def test_a_classifier_gets_no_reconstructions(tmp_path, capsys):
    run_dir, _ = run_cli(["fit", *FAST, "--run.root", str(tmp_path)], capsys)
    pngs = {p.name for p in run_dir.glob("*.png")}
    assert pngs == {"predictions.png", "confusion_matrix.png", "curves.png"}


def test_denoising_noise_is_for_training_only():
    model = Autoencoder(ConvAutoencoder((1, 8, 8), channels=[4], latent_dim=4), noise_std=1.0)
    seen = []
    model.net.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    model.accumulate = lambda *a, **k: None  # no trainer here: the loss alone
    x = torch.randn(2, 1, 8, 8)
    model.step((x, torch.zeros(2)), "val")
    model.step((x, torch.zeros(2)), "train")
    assert torch.equal(seen[0], x) and not torch.equal(seen[1], x)
    assert isinstance(ImageClassifier.monitor, str) and Autoencoder.monitor == "val/loss"
