import csv
from pathlib import Path

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter


class PredictionWriter(BasePredictionWriter):
    """Writes `predictions.csv` into the run directory after `predict`: one row per input.

    Columns: `index` (position in the predicted split), `id` (the input's file path, where the
    datamodule has one), then for classifiers `label` (predicted class name; for multi-label
    models the present labels joined by `;`), `confidence` and one `prob/<class>` column per
    class, and for regressors one `pred/<target>` column per target, in the target's units.
    Under DDP each rank writes `predictions.rank<r>.csv` with its share of the rows.

    Args:
        filename: Name of the file written into the run directory.
    """

    def __init__(self, filename: str = "predictions.csv"):
        super().__init__(write_interval="epoch")
        self.filename = filename

    def write_on_epoch_end(
        self, trainer: Trainer, pl_module: LightningModule, predictions, batch_indices
    ) -> None:
        if not predictions:
            return
        datamodule = trainer.datamodule
        key = "probs" if "probs" in predictions[0] else "preds"
        values = torch.cat([p[key] for p in predictions]).float().cpu()  # (N, K)
        indices = [i for batch in batch_indices[0] for i in batch] if batch_indices else []
        if len(indices) != len(values):  # loaders without a sampler: rows are in order
            indices = list(range(len(values)))
        names = list(getattr(datamodule, "classes", None) or range(values.shape[1]))
        ids = getattr(datamodule, "predict_ids", None)
        header = ["index", "id"] if ids else ["index"]
        rows = [[i, ids[i]] if ids else [i] for i in indices]
        if key == "preds":  # regression
            if hasattr(datamodule, "unscale_targets"):
                values = datamodule.unscale_targets(values)
            header += [f"pred/{n}" for n in names]
            columns = [[f"{x:.6g}" for x in v] for v in values.tolist()]
        else:
            preds = torch.cat([p["preds"] for p in predictions]).cpu()
            if preds.ndim == 2:  # multi-label: 0/1 per label
                labels = [";".join(n for n, on in zip(names, p, strict=True) if on) for p in preds]
            else:
                labels = [names[p] for p in preds.tolist()]
            header += ["label", "confidence", *(f"prob/{n}" for n in names)]
            columns = [
                [label, f"{max(v):.6f}", *(f"{x:.6f}" for x in v)]
                for label, v in zip(labels, values.tolist(), strict=True)
            ]
        rows = [r + c for r, c in zip(rows, columns, strict=True)]
        path = Path(trainer.log_dir or ".") / self.filename
        if trainer.world_size > 1:
            path = path.with_suffix(f".rank{trainer.global_rank}.csv")
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([header, *rows])
        self.path = path
