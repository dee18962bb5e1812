import pytest
import torch

from src.export import export, main
from src.load_run import load_run
from src.models import ImageClassifier
from tests.conftest import FAST


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    from src.cli import main as cli

    cli(["fit", *FAST, "--data.batch_size", "50", "--run.root", str(root)])
    (path,) = root.glob("digits/*/")
    return path


def _batch(datamodule) -> torch.Tensor:
    datamodule.setup("predict")
    images, _ = datamodule.on_after_batch_transfer(next(iter(datamodule.predict_dataloader())), 0)
    return images[:8]


def test_load_run_returns_the_best_model_and_its_datamodule(run_dir):
    model, datamodule = load_run(run_dir)
    assert isinstance(model, ImageClassifier) and not model.training
    assert type(datamodule).__name__ == "DigitsDataModule" and datamodule.hparams.batch_size == 50
    best = ImageClassifier.load_from_checkpoint(run_dir / "checkpoints" / "best.ckpt").eval()
    x = _batch(datamodule)
    with torch.no_grad():
        assert torch.equal(model(x), best(x))


def test_torchscript_export_matches_the_model(run_dir):
    path = export(run_dir, "torchscript")
    model, datamodule = load_run(run_dir)
    x = _batch(datamodule)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(path)(x), model(x), rtol=1e-5, atol=1e-5)


def test_onnx_export_matches_the_model(run_dir, capsys):
    ort = pytest.importorskip("onnxruntime", reason="pip install -e '.[onnx]'")
    pytest.importorskip("onnx", reason="pip install -e '.[onnx]'")
    main([str(run_dir / "checkpoints" / "best.ckpt"), "--format", "onnx"])
    path = run_dir / "export" / "model.onnx"
    assert f"Exported: {path}" in capsys.readouterr().out
    model, datamodule = load_run(run_dir)
    x = _batch(datamodule)  # 8 rows: a batch size other than the export's example
    (onnx_out,) = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(onnx_out), model(x), rtol=1e-4, atol=1e-5)


def test_not_a_run_is_one_clear_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 2
    assert "is not a finished run" in capsys.readouterr().err
