from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor


def plot_confusion_matrix(
    targets: Tensor, preds: Tensor, class_names: Sequence[str], path: Path, title: str = ""
) -> Path:
    """Counts of (true, predicted) pairs as a heat map, the counts written in; saved to `path`."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    n = len(class_names)
    counts = torch.bincount(targets * n + preds, minlength=n * n).reshape(n, n)
    size = max(4.0, 0.45 * n + 2)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(counts.numpy(), cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    if n <= 30:  # beyond that the numbers no longer fit in their cells
        for i, j in counts.nonzero().tolist():
            color = "white" if counts[i, j] > counts.max() / 2 else "black"
            ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=8, color=color)
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true")
    long_names = max(map(len, class_names)) > 2
    ax.set_xticklabels(
        class_names, rotation=45 if long_names else 0, ha="right" if long_names else "center"
    )
    ax.set_yticklabels(class_names)
    accuracy = counts.diag().sum() / counts.sum().clamp(min=1)
    ax.set_title(f"{title} accuracy {accuracy:.3f} on {int(counts.sum())} samples".strip())
    fig.savefig(path, dpi=110)
    return path
