from collections.abc import Sequence
from pathlib import Path

from torch import Tensor


def plot_predictions_grid(
    sections: dict[str, tuple[Tensor, Tensor, Tensor, Tensor]],
    class_names: Sequence[str],
    path: Path,
    columns: int = 8,
) -> Path | None:
    """Images titled `true -> predicted (confidence)`, mistakes in red, one block per section.

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
    rows = [max(1, -(-len(s[0]) // columns)) for s in sections.values()]
    fig = Figure(figsize=(1.6 * columns, 1.9 * sum(rows) + 0.5 * len(rows)), layout="constrained")
    subfigs = fig.subfigures(len(sections), 1, height_ratios=rows, squeeze=False)[:, 0]
    for subfig, n_rows, (title, (images, targets, preds, confidences)) in zip(
        subfigs, rows, sections.items(), strict=True
    ):
        subfig.suptitle(f"{title}: true → predicted (confidence)", fontsize=12)
        axes = subfig.subplots(n_rows, columns, squeeze=False).flatten()
        for ax in axes:
            ax.axis("off")
        # strict=False: the spare axes of the last row stay blank
        cells = zip(axes, images, targets, preds, confidences, strict=False)
        for ax, image, true, pred, conf in cells:
            pixels = image.permute(1, 2, 0).squeeze(-1).numpy()  # (H, W) or (H, W, 3)
            ax.imshow(
                pixels,
                cmap="gray" if pixels.ndim == 2 else None,
                vmin=0,
                vmax=1,
                interpolation="nearest",
            )
            wrong = bool(true != pred)
            ax.set_title(
                f"{class_names[true]} → {class_names[pred]} ({conf:.2f})",
                fontsize=8,
                color="crimson" if wrong else "black",
            )
    fig.savefig(path, dpi=100)
    return path
