import csv
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor


class PredictionWriter(Callback):
    """Writes `predictions.csv` into the run directory after `predict`: one row per input.

    Columns: `index` (position in the predicted split), the datamodule's ids of each input
    (`row`: its row in the CSV file it came from, 0-based after the header, as pandas numbers
    them, so predictions join back to the input file; `id`: an image's file path), the true
    `target` where the data has one, then for classifiers `label` (predicted class name; for
    multi-label models the present labels joined by `;`), `confidence` and one `prob/<class>`
    column per class, and for regressors `target/<name>` and `pred/<name>` per target, in the
    target's units. Under DDP each rank writes `predictions.rank<r>.csv` with its share of the
    rows (rank r has rows r, r + world size, ...).

    Args:
        filename: Name of the file written into the run directory.
    """

    def __init__(self, filename: str = "predictions.csv"):
        self.filename = filename

    def on_predict_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.outputs: list[dict[str, Tensor]] = []
        self.targets: list[Tensor] = []

    def on_predict_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        if not isinstance(outputs, dict):  # a predict_step of another shape: nothing to write
            return
        self.outputs.append({k: v.detach().float().cpu() for k, v in outputs.items()})
        if isinstance(batch, list | tuple) and len(batch) > 1:
            self.targets.append(batch[1].detach().cpu())

    def on_predict_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.outputs:
            return
        datamodule = trainer.datamodule
        outputs = {k: torch.cat([o[k] for o in self.outputs]) for k in self.outputs[0]}
        targets = torch.cat(self.targets) if len(self.targets) == len(self.outputs) else None
        if targets is not None and targets.ndim == 1 and (targets < 0).all():
            targets = None  # unlabelled inputs (an image folder's --data.predict_dir)
        regression = "probs" not in outputs
        values = outputs["preds" if regression else "probs"]  # (N, K)
        names = [str(n) for n in getattr(datamodule, "classes", None) or range(values.shape[1])]
        indices = self._indices(trainer, len(values))
        header, columns = ["index"], [indices]
        for name, ids in (getattr(datamodule, "predict_ids", None) or {}).items():
            header.append(name)
            columns.append([None if i is None else ids[i] for i in indices])
        unscale = getattr(datamodule, "unscale_targets", lambda x: x)
        if regression:
            if targets is not None:
                header += [f"target/{n}" for n in names]
                columns += _number_columns(unscale(targets.float().view_as(values)))
            header += [f"pred/{n}" for n in names]
            columns += _number_columns(unscale(values))
        else:
            if targets is not None:
                header.append("target")
                columns.append(_labels(targets, names))
            header += ["label", "confidence", *(f"prob/{n}" for n in names)]
            confidence = [f"{p:.6f}" for p in values.max(-1).values.tolist()]
            columns += [_labels(outputs["preds"], names), confidence]
            columns += [[f"{p:.6f}" for p in column] for column in values.T.tolist()]
        keep = [i for i, index in enumerate(indices) if index is not None]  # DDP padding: off
        path = Path(trainer.log_dir or ".") / self.filename
        if trainer.world_size > 1:
            path = path.with_suffix(f".rank{trainer.global_rank}.csv")
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([header, *([c[i] for c in columns] for i in keep)])
        self.path = path

    @staticmethod
    def _indices(trainer: Trainer, n_rows: int) -> list[int | None]:
        """The split position of each row this rank predicted; None for the rows DDP repeats to
        give every rank as many (predict loaders do not shuffle: rank r gets r, r + world...)."""
        size = getattr(trainer.datamodule, "split_size", None)
        total = size("predict") if size else None
        rank, world = trainer.global_rank, trainer.world_size
        positions = [rank + k * world for k in range(n_rows)]
        return [p if total is None or p < total else None for p in positions]


def _number_columns(values: Tensor) -> list[list[str]]:
    return [[f"{x:.6g}" for x in column] for column in values.T.tolist()]


def _labels(labels: Tensor, names: list[str]) -> list[str]:
    """Class ids (N,) as names, -1 (unknown) as empty; or 0/1 per label (N, L) joined by `;`."""
    if labels.ndim == 2:
        return [
            ";".join(n for n, on in zip(names, row, strict=True) if on) for row in labels.tolist()
        ]
    return [names[int(i)] if i >= 0 else "" for i in labels.tolist()]
