from pathlib import Path

from src.experiments.run_info import RunInfo, metric_series
from src.files import replaced_atomically


def plot_overlay(runs: list[RunInfo], metric: str, path: Path, keys: list[str] = ()) -> Path | None:
    """Write `overlay_figure` as a PNG; None when no run logged `metric`."""
    fig = overlay_figure(runs, metric, keys)
    if fig is None:
        return None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return Path(path)


def overlay_figure(runs: list[RunInfo], metric: str, keys: list[str] = ()):
    """One curve of `metric` (against the step) per run, labelled by the keys that differ.

    Runs that differ only in the seed share a colour (one line style each), so the spread
    over seeds shows.
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    curves = [(run, metric_series(run.run_dir, metric)) for run in runs if run.run_dir]
    curves = [(run, points) for run, points in curves if points]
    if not curves:
        return None
    configs = [k for k in keys if k != "seed_everything"]
    colours: dict[tuple, str] = {}
    seen: dict[tuple, int] = {}
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax = fig.subplots()
    for run, points in curves:
        config = tuple(repr(run.config.get(k)) for k in configs)
        colour = colours.setdefault(config, f"C{len(colours) % 10}")
        index = seen[config] = seen.get(config, -1) + 1  # the how-manieth seed of its config
        style = _STYLES[index % len(_STYLES)]
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, color=colour, linestyle=style, label=_label(run, keys),
                linewidth=1.5, marker="o" if len(points) < 30 else None, markersize=3)  # fmt: skip
    ax.set(title=f"{metric} ({len(curves)} runs)", xlabel="step", ylabel=metric)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=7 if len(curves) < 20 else 5)
    return fig


_STYLES = ("-", "--", ":", "-.")


def _label(run: RunInfo, keys: list[str]) -> str:
    short = {k: k.rsplit(".", 1)[-1] for k in keys}
    if len(set(short.values())) < len(short):  # two keys end alike: spell them out
        short = {k: k for k in keys}
    values = ", ".join(f"{short[k]}={_value(run.config.get(k))}" for k in keys)
    label = f"{run.name}: {values}" if values else run.name
    return label if len(label) <= 60 else label[:57] + "..."


def _value(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
