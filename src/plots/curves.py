import csv
import re
from collections import defaultdict
from pathlib import Path


def plot_curves(metrics_csv: Path, path: Path, columns: int = 3) -> Path | None:
    """One panel per metric (loss, acc, learning rate, throughput...) against the global step.

    Splits share a panel (`train/loss_step`, `train/loss_epoch` and `val/loss` go to `loss`), so
    over- and under-fitting show at a glance. Returns None when nothing was logged.
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    series: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(dict)
    with Path(metrics_csv).open() as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None):
                    continue
                series[_panel(key)].setdefault(key, []).append((int(row["step"]), float(value)))
    if not series:
        return None
    rows = -(-len(series) // columns)
    fig = Figure(figsize=(4.5 * columns, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flatten()[len(series) :]:
        ax.axis("off")
    for ax, (panel, curves) in zip(axes.flatten(), sorted(series.items()), strict=False):
        for key, points in sorted(curves.items()):
            steps, values = zip(*points, strict=True)
            ax.plot(
                steps,
                values,
                label=key,
                marker="o" if len(points) < 30 else None,
                markersize=3,
                linewidth=1.2,
                alpha=0.6 if key.endswith("_step") else 1.0,
            )
        ax.set(title=panel, xlabel="step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=100)
    return path


def _panel(key: str) -> str:
    """`train/loss_step` -> `loss`, `val/acc_best` -> `acc`, `lr-AdamW` -> `learning rate`..."""
    if key.startswith("lr-"):
        return "learning rate"
    if key.endswith("samples_per_sec"):
        return "throughput (samples/s)"
    return re.sub(r"_(step|epoch|best)$", "", key.rsplit("/", 1)[-1])
