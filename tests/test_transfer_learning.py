import pytest
import torch
from lightning.pytorch import Callback, Trainer

from src.callbacks import NetBackboneFinetuning
from src.data import FashionMNISTDataModule
from src.errors import UsageError
from src.load_run import load_run
from src.models import ImageClassifier
from src.nets import CifarResNet, TorchvisionNet
from tests.conftest import FAST, run_cli


def test_pretrained_weights_from_a_local_file_and_the_head_is_replaced(tmp_path):
    from torchvision.models import mobilenet_v3_small

    source = mobilenet_v3_small(num_classes=1000)
    torch.save(source.state_dict(), tmp_path / "weights.pth")
    net = TorchvisionNet(input_shape=(1, 28, 28), num_classes=4, name="mobilenet_v3_small",
                         weights=str(tmp_path / "weights.pth"), freeze_backbone=True)  # fmt: skip
    first = net.backbone.features[0][0].weight
    assert torch.equal(first, source.features[0][0].weight)
    assert net.head.out_features == 4 and net.head.weight.requires_grad
    assert not any(p.requires_grad for p in net.backbone.parameters())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": "DEFAULT"}, "could not download .* --model.net.init_args.weights"),
        ({"weights": "NOPE"}, "no weights 'NOPE'"),
        ({"weights": "missing.pth"}, "does not exist"),
        ({"name": "not_a_model"}, "unknown torchvision"),
        ({"input_shape": (4, 32, 32)}, "1 or 3 input channels"),
    ],
)
def test_clear_errors(kwargs, message, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: DEFAULT must download

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr("torch.hub.download_url_to_file", offline)
    with pytest.raises(UsageError, match=message):
        TorchvisionNet(**{"name": "mobilenet_v3_small", **kwargs})


class _BackboneSnapshots(Callback):
    """The backbone's and head's weights at the end of every training epoch."""

    def __init__(self):
        self.backbone, self.head = [], []

    def on_train_epoch_end(self, trainer, pl_module):
        self.backbone.append([p.detach().clone() for p in pl_module.net.backbone.parameters()])
        self.head.append(pl_module.net.head.weight.detach().clone())


def test_backbone_is_frozen_until_the_unfreeze_epoch(mnist_root):
    # Any net with a backbone and a head; a tiny one keeps the test fast.
    net = CifarResNet(input_shape=(1, 28, 28), num_classes=10, blocks=[1, 1], widths=[8, 16])
    initial = [p.detach().clone() for p in net.backbone.parameters()]
    model = ImageClassifier(net, scheduler=None)
    snapshots = _BackboneSnapshots()
    trainer = Trainer(
        max_epochs=4, limit_train_batches=2, limit_val_batches=1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[NetBackboneFinetuning(unfreeze_backbone_at_epoch=2, train_bn=False), snapshots],
    )  # fmt: skip
    trainer.fit(model, FashionMNISTDataModule(data_dir=mnist_root, batch_size=16))
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a, b, strict=True))  # noqa: E731
    assert same(snapshots.backbone[0], initial) and same(snapshots.backbone[1], initial)
    assert not same(snapshots.backbone[2], initial)  # unfrozen at the start of epoch 2
    assert not torch.equal(snapshots.head[0], snapshots.head[1])  # the head trained throughout
    groups = trainer.optimizers[0].param_groups
    assert len(groups) == 2 and groups[1]["lr"] < groups[0]["lr"]  # the backbone's lower LR


def test_finetuning_needs_a_net_with_a_backbone():
    from src.nets import SmallCNN

    with pytest.raises(UsageError, match="backbone"):
        NetBackboneFinetuning()._backbone(ImageClassifier(SmallCNN()))


def test_transfer_learning_experiment_runs_with_local_weights(mnist_root, tmp_path, capsys):
    from torchvision.models import mobilenet_v3_small

    torch.save(mobilenet_v3_small().state_dict(), tmp_path / "weights.pth")
    run_dir, _ = run_cli(
        ["fit", "--config", "configs/transfer_learning.yaml", *FAST, "--data.data_dir",
         str(mnist_root), "--data.batch_size", "8", "--model.net.init_args.resize_to", "32",
         "--model.net.init_args.weights",
         str(tmp_path / "weights.pth"), "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    (tmp_path / "weights.pth").unlink()  # the run's checkpoint alone rebuilds the model
    model, _ = load_run(run_dir)
    assert isinstance(model.net, TorchvisionNet)
    net = TorchvisionNet(input_shape=(1, 28, 28), num_classes=3, name="mobilenet_v3_small",
                         weights=str(run_dir / "checkpoints" / "best.ckpt"))  # fmt: skip
    for mine, theirs in zip(
        net.backbone.parameters(), model.net.backbone.parameters(), strict=True
    ):
        assert torch.equal(mine, theirs)  # fine-tuning can start from a previous run's backbone
