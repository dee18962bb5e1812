import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from src.data import CSVDataModule, DiabetesDataModule
from src.errors import UsageError
from tests.conftest import FAST, run_cli


def write_csv(path: Path, n: int = 200) -> Path:
    """Columns a, b (features on very different scales), y = 3a - 0.02b + noise, kind, tags."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(5, 2, n), rng.normal(1000, 300, n)
    y = 3 * a - 0.02 * b + rng.normal(0, 0.1, n)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b", "y", "kind", "is_big", "is_odd"])
        for i in range(n):
            kind = "high" if y[i] > np.median(y) else "low"
            writer.writerow([a[i], b[i], y[i], kind, int(a[i] > 5), int(b[i] > 1000)])
    return path


def test_standardisation_is_fitted_on_the_training_rows_only(tmp_path):
    dm = CSVDataModule(path=str(write_csv(tmp_path / "t.csv")), targets=["y"],
                       features=["a", "b"], batch_size=16)  # fmt: skip
    dm.setup("fit")
    assert dm.input_shape == (2,) and dm.num_classes == 1
    x_train, y_train = dm.splits["train"]
    assert torch.allclose(x_train.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(x_train.std(0), torch.ones(2), atol=1e-5)
    x_test, _ = dm.splits["test"]
    assert not torch.allclose(x_test.mean(0), torch.zeros(2), atol=1e-3)  # test rows: not refit
    assert len(x_train) + len(dm.splits["val"][0]) + len(x_test) == 200
    assert torch.allclose(dm.unscale_targets(y_train).mean(0), dm.target_scale.mean, atol=1e-4)


def test_multiclass_and_multilabel_targets(tmp_path):
    path = str(write_csv(tmp_path / "t.csv"))
    dm = CSVDataModule(path=path, targets=["kind"], features=["a", "b"], task="multiclass")
    dm.setup("fit")
    assert dm.classes == ("high", "low") and dm.num_classes == 2
    assert dm.splits["train"][1].dtype == torch.int64
    dm = CSVDataModule(path=path, targets=["is_big", "is_odd"], features=["a", "b"],
                       task="multilabel")  # fmt: skip
    dm.setup("fit")
    assert dm.num_classes == 2 and set(dm.splits["train"][1].unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets": ["nope"]}, "no column"),
        ({"targets": ["y"], "features": ["kind"]}, "numeric"),
        ({"targets": ["y", "a"], "task": "multiclass"}, "one column"),
    ],
)
def test_bad_columns_are_clear_errors(kwargs, message, tmp_path):
    with pytest.raises(UsageError, match=message):
        CSVDataModule(path=str(write_csv(tmp_path / "t.csv")), **kwargs).setup("fit")


@pytest.mark.parametrize(
    ("model", "targets", "task"),
    [
        ("Regressor", "[y]", "regression"),
        ("ImageClassifier", "[kind]", "multiclass"),
        ("MultiLabelClassifier", "[is_big, is_odd]", "multilabel"),
        ("MultiLabelClassifier", "[is_big]", "multilabel"),  # binary
    ],
)
def test_each_task_trains_and_predicts_through_the_cli(model, targets, task, tmp_path, capsys):
    path = write_csv(tmp_path / "t.csv")
    monitor = "val/mse" if task == "regression" else "val/acc"
    run_dir, _ = run_cli(
        ["fit", *FAST, "--model", model, "--model.net", "MLPNet", "--data", "CSVDataModule",
         "--data.path", str(path), "--data.targets", targets, "--data.features", "[a, b]",
         "--data.task", task, "--checkpoint.monitor", monitor, "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    config, best = str(run_dir / "config.yaml"), str(run_dir / "checkpoints" / "best.ckpt")
    predict_dir, _ = run_cli(["predict", "--config", config, "--ckpt_path", best], capsys)
    rows = list(csv.DictReader((predict_dir / "predictions.csv").open()))
    assert len(rows) == 40  # the held-out 20%
    first = {"regression": "pred/y", "multiclass": "prob/high", "multilabel": "prob/is_big"}
    column = first[task]
    assert all(np.isfinite(float(r[column])) for r in rows)
    # Each prediction joins back to its input row by `row`, and carries that row's true target.
    inputs = list(csv.DictReader(path.open()))
    assert len({r["row"] for r in rows}) == 40
    for row in rows:
        source = inputs[int(row["row"])]
        if task == "regression":
            assert float(row["target/y"]) == pytest.approx(float(source["y"]), rel=1e-5)
        elif task == "multiclass":
            assert row["target"] == source["kind"]
        else:
            on = [name for name in targets.strip("[]").split(", ") if source[name] == "1"]
            assert row["target"] == ";".join(on)


def test_diabetes_linear_regression_reaches_a_sane_r2(tmp_path, capsys):
    run_dir, _ = run_cli(
        ["fit", "--config", "configs/diabetes_linear.yaml", "--trainer.max_epochs", "40",
         "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
         "--trainer.logger", "false", "--run.root", str(tmp_path)],
        capsys,
    )  # fmt: skip
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    r2 = [float(r["test/r2"]) for r in rows if r.get("test/r2")][-1]
    assert r2 > 0.35  # a linear model explains about half the variance of this data


def test_diabetes_mlp_config_runs_a_tiny_fit(tmp_path, capsys):
    run_dir, _ = run_cli(
        ["fit", "--config", "configs/diabetes_mlp.yaml", *FAST, "--run.root", str(tmp_path)],
        capsys,
    )
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["hyper_parameters"]["net"]["init_args"]["input_shape"] == (10,)  # linked
    assert ckpt["hyper_parameters"]["num_classes"] == DiabetesDataModule().num_classes == 1
