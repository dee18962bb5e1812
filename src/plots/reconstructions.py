from pathlib import Path

import torch
from torch import Tensor


def plot_reconstructions(inputs: Tensor, outputs: Tensor, path: Path, columns: int = 8) -> Path:
    """Each input above the model's output for it, `columns` pairs per row.

    Args:
        inputs: Images (N, C, H, W) in [0, 1].
        outputs: The model's images for them, same shape, in [0, 1].
        path: The PNG file written.
        columns: Pairs per row.
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    n, channels, height, width = inputs.shape
    gap = max(1, height // 8)
    rows = -(-n // columns)
    cell_w, pair_h = width + gap, 2 * height + 3 * gap
    mosaic = torch.ones(channels, rows * pair_h, columns * cell_w)  # one imshow, white gaps
    for i, (image, output) in enumerate(zip(inputs, outputs, strict=True)):
        top, left = (i // columns) * pair_h + gap, (i % columns) * cell_w
        mosaic[:, top : top + height, left : left + width] = image
        mosaic[:, top + height + gap : top + 2 * height + gap, left : left + width] = output
    fig = Figure(figsize=(1.2 * columns, 2.3 * rows + 0.5), layout="constrained")
    ax = fig.subplots()
    pixels = mosaic.permute(1, 2, 0).squeeze(-1).numpy()  # (H, W) or (H, W, 3)
    ax.imshow(pixels, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title("validation inputs (upper) and the model's reconstructions (lower)", fontsize=11)
    ax.axis("off")
    fig.savefig(path, dpi=100)
    return Path(path)
