from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor


def plot_predictions_grid(
    sections: dict[str, tuple[Tensor, Tensor, Tensor, Tensor]],
    class_names: Sequence[str],
    path: Path,
    columns: int = 8,
) -> Path | None:
    """Images labelled `true → predicted (confidence)`, mistakes in red, one block per section.

    Args:
        sections: Title -> (images (N, C, H, W) in [0, 1], targets, preds, confidences).
        class_names: Label names, index = class.
        path: The PNG file written.
        columns: Images per row.
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    sections = {title: s for title, s in sections.items() if len(s[0])}
    if not sections:
        return None
    rows = [-(-len(s[0]) // columns) for s in sections.values()]
    fig = Figure(figsize=(1.6 * columns, 1.75 * sum(rows) + 0.4 * len(rows)), layout="constrained")
    axes = fig.subplots(len(sections), 1, height_ratios=rows, squeeze=False)[:, 0]
    for ax, (title, (images, targets, preds, confidences)) in zip(
        axes, sections.items(), strict=True
    ):
        # One mosaic per section, drawn by a single imshow: far faster than an Axes per image.
        _, channels, height, width = images.shape
        gap_x, gap_y = max(1, width // 8), max(2, height // 3)  # gap_y leaves room for labels
        cell_w, cell_h = width + gap_x, height + gap_y
        n_rows = -(-len(images) // columns)
        mosaic = torch.ones(channels, n_rows * cell_h, columns * cell_w)  # white background
        for i, (image, true, pred, conf) in enumerate(
            zip(images, targets, preds, confidences, strict=True)
        ):
            top, left = (i // columns) * cell_h + gap_y, (i % columns) * cell_w
            mosaic[:, top : top + height, left : left + width] = image
            label = f"{class_names[true]} → {class_names[pred]} ({conf:.2f})"
            if len(label) > 18:  # long class names: two lines, or neighbours' labels overlap
                label = label.replace(" → ", "\n→ ")
            color = "black" if true == pred else "crimson"
            ax.text(
                left + width / 2,
                top - 0.5,
                label,
                ha="center",
                va="bottom",
                fontsize=8,
                color=color,
            )
        pixels = mosaic.permute(1, 2, 0).squeeze(-1).numpy()  # (H, W) or (H, W, 3)
        ax.imshow(pixels, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{title}: true → predicted (confidence)", fontsize=12)
        ax.axis("off")
    fig.savefig(path, dpi=100)
    return path
