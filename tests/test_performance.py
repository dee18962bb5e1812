import torch

from src.callbacks import PerformanceOptions
from src.models import ImageClassifier
from src.nets import SmallCNN
from tests.conftest import FAST, run_cli


def test_perf_options_from_the_command_line_keep_checkpoints_loadable(tmp_path, capsys):
    run_dir, _ = run_cli(
        ["fit", *FAST, "--perf.compile", "true", "--perf.compile_backend", "eager",
         "--perf.channels_last", "true", "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert not any("_orig_mod" in key for key in state)  # compiled in place, names unchanged
    ImageClassifier.load_from_checkpoint(run_dir / "checkpoints" / "last.ckpt")


def test_channels_last_and_matmul_precision_are_applied():
    model = ImageClassifier(SmallCNN(channels=[8, 16]))
    before = torch.get_float32_matmul_precision()
    try:
        callback = PerformanceOptions(channels_last=True, matmul_precision="medium")
        for stage in ("fit", "test"):  # a second setup must not stack a second hook
            callback.setup(None, model, stage)
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(before)
    conv = model.net.features[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert len(model.net._forward_pre_hooks) == 1
    seen = []
    conv.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    model.net(torch.randn(2, 1, 28, 28))
    assert seen[0].is_contiguous(memory_format=torch.channels_last)


def test_airbench_net_trains_through_the_cli_with_whitening_init(mnist_root, tmp_path, capsys):
    run_dir, _ = run_cli(
        ["fit", *FAST, "--data", "MNISTDataModule", "--data.data_dir", str(mnist_root),
         "--model.net", "AirbenchNet", "--model.net.widths", "[8, 16, 16]",
         "--model.label_smoothing", "0.2", "--trainer.callbacks+=WhiteningInit",
         "--trainer.callbacks.num_images", "64", "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    model = ImageClassifier.load_from_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    fresh = torch.nn.Conv2d(1, 8, 2).weight
    assert model.net.whiten.weight.shape == fresh.shape
    assert model.net.whiten.weight.abs().max() > 3 * fresh.abs().max()  # whitened, not random
