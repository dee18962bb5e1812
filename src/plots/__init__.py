"""Matplotlib figures of a run, written as PNG files so any logger's users can see them.

matplotlib is imported inside each function: importing this package stays cheap.
"""

from src.plots.confusion_matrix import plot_confusion_matrix
from src.plots.curves import plot_curves
from src.plots.images import for_display
from src.plots.predictions_grid import plot_predictions_grid
from src.plots.reconstructions import plot_reconstructions

__all__ = [
    "for_display",
    "plot_confusion_matrix",
    "plot_curves",
    "plot_predictions_grid",
    "plot_reconstructions",
]
