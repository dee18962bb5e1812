import json

import pytest
import torch

from src.export import export, main
from src.load_run import load_run
from src.models import ImageClassifier
from tests.conftest import FAST, run_cli
from tests.test_tabular import write_csv


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    from src.cli import main as cli

    cli(["fit", *FAST, "--data.batch_size", "50", "--run.root", str(root)])
    (path,) = root.glob("digits/*/")
    return path


def _raw_batch(datamodule) -> tuple[torch.Tensor, torch.Tensor]:
    """The predict split's first batch as the loader gives it (raw uint8 pixels, labels)."""
    datamodule.setup("predict")
    images, labels = next(iter(datamodule.predict_dataloader()))
    return images[:8], labels[:8]


def _predict_step(model, datamodule, batch) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return model.predict_step(datamodule.on_after_batch_transfer(batch, 0), 0)


def test_load_run_returns_the_best_model_and_its_datamodule(run_dir):
    model, datamodule = load_run(run_dir)
    assert isinstance(model, ImageClassifier) and not model.training
    assert type(datamodule).__name__ == "DigitsDataModule" and datamodule.hparams.batch_size == 50
    best = ImageClassifier.load_from_checkpoint(run_dir / "checkpoints" / "best.ckpt").eval()
    x, _ = datamodule.on_after_batch_transfer(_raw_batch(datamodule), 0)
    with torch.no_grad():
        assert torch.equal(model(x), best(x))


@pytest.mark.parametrize("input_dtype", ["float32", "uint8"])
def test_pt2_export_on_raw_pixels_equals_predict_step(run_dir, input_dtype):
    path = export(run_dir, "pt2", input_dtype=input_dtype)
    model, datamodule = load_run(run_dir)
    images, labels = _raw_batch(datamodule)  # uint8 pixels, as decoded
    expected = _predict_step(model, datamodule, (images, labels))["probs"]
    raw = images if input_dtype == "uint8" else images.float() / 255  # [0, 1], as ToTensor gives
    deployed = torch.export.load(path).module()
    torch.testing.assert_close(deployed(raw), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(deployed(raw[:1]), expected[:1], rtol=1e-5, atol=1e-6)  # any batch
    metadata = json.loads(path.with_suffix(".json").read_text())
    assert metadata["classes"] == [str(i) for i in range(10)]
    assert metadata["input"]["shape"] == ["batch", 1, 8, 8]
    assert metadata["input"]["dtype"] == input_dtype
    assert metadata["preprocessing"]["mean"] == [0.3053]


def test_onnx_export_on_raw_pixels_equals_predict_step(run_dir, capsys):
    ort = pytest.importorskip("onnxruntime", reason="pip install -e '.[onnx]'")
    pytest.importorskip("onnxscript", reason="pip install -e '.[onnx]'")
    main([str(run_dir / "checkpoints" / "best.ckpt"), "--format", "onnx"])
    path = run_dir / "export" / "model.onnx"
    assert f"Exported: {path}" in capsys.readouterr().out
    model, datamodule = load_run(run_dir)
    images, labels = _raw_batch(datamodule)  # 8 rows: a batch size other than the export's
    expected = _predict_step(model, datamodule, (images, labels))["probs"]
    session = ort.InferenceSession(str(path))
    (out,) = session.run(None, {"input": (images.float() / 255).numpy()})
    torch.testing.assert_close(torch.from_numpy(out), expected, rtol=1e-4, atol=1e-6)


def test_a_regressor_exports_raw_rows_to_target_units(tmp_path, capsys):
    csv_path = write_csv(tmp_path / "t.csv")
    run, _ = run_cli(
        ["fit", *FAST, "--model", "Regressor", "--model.net", "MLPNet", "--data", "CSVDataModule",
         "--data.path", str(csv_path), "--data.targets", "[y]", "--data.features", "[a, b]",
         "--checkpoint.monitor", "val/mse", "--checkpoint.mode", "min",
         "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    path = export(run, "pt2")
    model, datamodule = load_run(run)
    datamodule.setup("predict")
    x, y = next(iter(datamodule.predict_dataloader()))  # standardised rows
    expected = datamodule.unscale_targets(_predict_step(model, datamodule, (x, y))["preds"])
    raw = datamodule.normalize.inverse(x)  # the CSV's own values
    torch.testing.assert_close(torch.export.load(path).module()(raw), expected)
    assert json.loads(path.with_suffix(".json").read_text())["features"] == ["a", "b"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}"], "is not a finished run"),
        (["{run}", "--format", "torchscript"], "use --format pt2 or onnx"),
    ],
)
def test_export_mistakes_are_one_clear_line(args, message, run_dir, tmp_path, capsys):
    args = [a.format(tmp=tmp_path, run=run_dir) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and message in err, err


def test_an_image_folder_export_takes_resized_pixels(tmp_path, capsys):
    from tests.test_image_folder import make_image_folder

    root = make_image_folder(tmp_path / "images", per_class=4)
    run, _ = run_cli(
        ["fit", *FAST, "--model.net", "SmallCNN", "--model.net.channels", "[8]",
         "--data", "ImageFolderDataModule", "--data.data_dir", str(root),
         "--data.image_size", "12", "--data.num_workers", "0", "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    path = export(run, "pt2")
    model, datamodule = load_run(run)
    datamodule.setup("predict")
    x, y = next(iter(datamodule.predict_dataloader()))  # decoded, resized, normalised
    expected = _predict_step(model, datamodule, (x, y))["probs"]
    raw = datamodule.normalize.inverse(x)  # the resized pixels in [0, 1]
    torch.testing.assert_close(torch.export.load(path).module()(raw), expected)
    metadata = json.loads(path.with_suffix(".json").read_text())
    assert metadata["classes"] == ["circle", "square", "stripes"]
    assert metadata["preprocessing"]["resize"] == [12, 12]
    assert metadata["input"]["shape"] == ["batch", 3, 12, 12]
