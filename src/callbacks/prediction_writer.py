import csv
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor


class PredictionWriter(Callback):
    """Writes what `predict` returned into the run directory: one row per input.

    `predictions.csv` for predictions of one value or a vector per input. Columns: `index`
    (position in the predicted split), the datamodule's ids of each input (`row`: its row in the
    CSV file it came from, 0-based after the header, as pandas numbers them, so predictions join
    back to the input file; `id`: an image's file path), the true `target` where the data has
    one, then:

    - a `predict_step` returning `probs` (classifiers): `label` (predicted class name; for
      multi-label models the present labels joined by `;`), `confidence` and `prob/<class>`;
    - otherwise, per returned tensor (a `predict_step` may return one, or a dict of them):
      `pred/<name>` for `preds` (named after the datamodule's targets or classes, in the
      target's units, with `target/<name>` beside them) and `<key>/<i>` for any other key.

    Predictions of more than a vector per input (an autoencoder's images) go to
    `predictions.pt` instead: `torch.load` gives a dict of (N, ...) tensors and `index`.
    Under DDP each rank writes `predictions.rank<r>.<ext>` with its share of the rows (rank r
    has rows r, r + world size, ...).

    Args:
        filename: Name of the CSV file written into the run directory.
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
        if isinstance(outputs, Tensor):
            outputs = {"preds": outputs}
        if not isinstance(outputs, dict):  # nothing tensor-like to write
            return
        outputs = {k: v for k, v in outputs.items() if isinstance(v, Tensor) and v.ndim >= 1}
        if not outputs:
            return
        self.outputs.append({k: v.detach().float().cpu() for k, v in outputs.items()})
        if isinstance(batch, list | tuple) and len(batch) > 1 and isinstance(batch[1], Tensor):
            self.targets.append(batch[1].detach().cpu())

    def on_predict_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.outputs:
            return
        outputs = {k: torch.cat([o[k] for o in self.outputs]) for k in self.outputs[0]}
        indices = self._indices(trainer, len(next(iter(outputs.values()))))
        suffix = f".rank{trainer.global_rank}" if trainer.world_size > 1 else ""
        path = Path(trainer.log_dir or ".") / self.filename
        if any(v.ndim > 2 for v in outputs.values()):
            path = path.with_name(f"{path.stem}{suffix}.pt")
            torch.save(
                {**outputs, "index": torch.tensor([-1 if i is None else i for i in indices])}, path
            )
            self.path = path
            return
        targets = torch.cat(self.targets) if len(self.targets) == len(self.outputs) else None
        if targets is not None and targets.ndim == 1 and (targets < 0).all():
            targets = None  # unlabelled inputs (an image folder's --data.predict_dir)
        header, columns = self._table(trainer.datamodule, outputs, targets, indices)
        keep = [i for i, index in enumerate(indices) if index is not None]  # DDP padding: off
        path = path.with_name(f"{path.stem}{suffix}.csv")
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([header, *([c[i] for c in columns] for i in keep)])
        self.path = path

    @staticmethod
    def _table(datamodule, outputs: dict[str, Tensor], targets: Tensor | None, indices: list):
        header, columns = ["index"], [indices]
        for name, ids in (getattr(datamodule, "predict_ids", None) or {}).items():
            header.append(name)
            columns.append([None if i is None else ids[i] for i in indices])
        if "probs" in outputs:  # a classifier
            probs = outputs["probs"].view(len(indices), -1)  # (N, K)
            names = _names(datamodule, probs.shape[1])
            if targets is not None:
                header.append("target")
                columns.append(_labels(targets, names))
            header += ["label", "confidence", *(f"prob/{n}" for n in names)]
            preds = outputs.get("preds", probs.argmax(-1))
            columns += [_labels(preds, names), [f"{p:.6f}" for p in probs.max(-1).values.tolist()]]
            columns += [[f"{p:.6f}" for p in column] for column in probs.T.tolist()]
            return header, columns
        unscale = getattr(datamodule, "unscale_targets", lambda x: x)
        for key, values in outputs.items():
            values = values.view(len(values), -1)  # (N, K)
            width = values.shape[1]
            if key != "preds":
                header += [key] if width == 1 else [f"{key}/{i}" for i in range(width)]
                columns += _number_columns(values)
                continue
            names = _names(datamodule, width)
            if targets is not None and targets.numel() == values.numel():
                header += [f"target/{n}" for n in names]
                columns += _number_columns(unscale(targets.float().view_as(values)))
            header += [f"pred/{n}" for n in names]
            columns += _number_columns(unscale(values))
        return header, columns

    @staticmethod
    def _indices(trainer: Trainer, n_rows: int) -> list[int | None]:
        """The split position of each row this rank predicted; None for the rows DDP repeats to
        give every rank as many (predict loaders do not shuffle: rank r gets r, r + world...)."""
        size = getattr(trainer.datamodule, "split_size", None)
        total = size("predict") if size else None
        rank, world = trainer.global_rank, trainer.world_size
        positions = [rank + k * world for k in range(n_rows)]
        return [p if total is None or p < total else None for p in positions]


def _names(datamodule, width: int) -> list[str]:
    """The datamodule's class or target names where they fit the width, else 0, 1, ..."""
    names = list(getattr(datamodule, "classes", None) or [])
    return [str(n) for n in names] if len(names) == width else [str(i) for i in range(width)]


def _number_columns(values: Tensor) -> list[list[str]]:
    return [[f"{x:.6g}" for x in column] for column in values.T.tolist()]


def _labels(labels: Tensor, names: list[str]) -> list[str]:
    """Class ids (N,) as names, -1 (unknown) as empty; or 0/1 per label (N, L) joined by `;`."""
    if labels.ndim == 2:
        return [
            ";".join(n for n, on in zip(names, row, strict=True) if on) for row in labels.tolist()
        ]
    return [names[int(i)] if i >= 0 else "" for i in labels.tolist()]
