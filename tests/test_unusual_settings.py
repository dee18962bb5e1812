"""Settings Lightning accepts but that used to break deep inside or do nothing without a word:
every precision, a clipping value of 0, schedules in which validation never runs."""

import warnings

import pytest
import torch
import yaml
from lightning.pytorch import LightningModule

from src.cli import main
from tests.conftest import FAST, assert_one_error_line, run_cli
from tests.ownwork import SumModel

# Every value of Lightning's `precision` argument: the ones a CPU runs train, the others stop
# before anything is created with one line that says what to use.
PRECISIONS = {
    "32-true": None, "32": None, "64-true": None, "64": None, "bf16-mixed": None, "bf16": None,
    "bf16-true": None, "16-mixed": None,
    "16-true": "bf16-mixed", "16": "bf16-mixed",
    "transformer-engine": "not supported on the CPU",
    "transformer-engine-float16": "not supported on the CPU",
}  # fmt: skip


@pytest.mark.parametrize(("precision", "refusal"), PRECISIONS.items(), ids=list(PRECISIONS))
def test_every_precision_trains_or_is_refused_in_one_line(precision, refusal, tmp_path, capsys):
    args = ["fit", *FAST, "--trainer.precision", precision, "--run.root", str(tmp_path)]
    if refusal:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
        assert_one_error_line(capsys.readouterr().err, [precision, refusal])
        assert not list(tmp_path.iterdir())
        return
    run_dir, _ = run_cli(args, capsys)
    summary = yaml.safe_load((run_dir / "summary.yaml").read_text())
    assert 0 <= summary["test"]["test/acc"] <= 1
    weights = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    dtype = {"64": torch.float64, "64-true": torch.float64, "bf16-true": torch.bfloat16}
    assert weights["net.head.3.weight"].dtype == dtype.get(precision, torch.float32)


def test_a_clipping_value_of_0_trains_with_one_warning(tmp_path, capsys):
    with pytest.warns(UserWarning, match="gradient_clip_val 0 clips nothing"):
        run_cli(["fit", *FAST, "--trainer.gradient_clip_val", "0", "--run.root", str(tmp_path)],
                capsys)  # fmt: skip


NO_VALIDATION = {
    "no validation batches": (["--trainer.limit_val_batches", "0"], "limit_val_batches 0"),
    "validation after the last epoch": (
        ["--trainer.check_val_every_n_epoch", "3", "--trainer.max_epochs", "2"],
        "check_val_every_n_epoch 3 with --trainer.max_epochs 2",
    ),
    "a model with no validation_step": (
        ["--model", f"{__name__}.NoValidation", "--data", "tests.ownwork.SumData"],
        "NoValidation has no validation_step",
    ),
}


class NoValidation(SumModel):
    """A researcher's model that never validates."""

    validation_step = LightningModule.validation_step


@pytest.mark.parametrize(("args", "why"), NO_VALIDATION.values(), ids=list(NO_VALIDATION))
def test_a_schedule_without_validation_says_so_and_keeps_last_ckpt(args, why, tmp_path, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_dir, _ = run_cli(["fit", *FAST, *args, "--run.root", str(tmp_path)], capsys)
    (said,) = [str(w.message) for w in caught if "validation never runs" in str(w.message)]
    assert why in said and "no best.ckpt" in said
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["last.ckpt"]
    record = yaml.safe_load((run_dir / "status.yaml").read_text())
    assert record["status"] == "finished"
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["checkpoint"]["monitor"] is None
