from pathlib import Path

from src.experiments.errors import SweepError
from src.experiments.overlay import plot_overlay
from src.experiments.records import read_sweep_file
from src.experiments.run_info import find_runs
from src.experiments.table import Table, build_table


def compare_runs(
    *paths: str | Path,
    sort: str | None = None,
    ascending: bool | None = None,
    plot: str | None = None,
    out: str | Path | None = None,
) -> Table:
    """The table of every run under `paths` (run directories, experiment folders, sweeps).

    With `out`, also writes `runs.csv`, `runs.md` (and `runs_by_seed.csv` when seeds vary) and
    `<metric>.png`, the curves of `plot` (default: the monitored metric) of all runs.
    """
    runs = [run for path in paths for run in find_runs(Path(path))]
    if not runs:
        raise SweepError(f"no runs under {', '.join(map(str, paths))} (no config.yaml found)")
    sweep = (read_sweep_file(Path(paths[0])) or {}) if len(paths) == 1 else {}
    metric = sweep.get("metric") or {}
    name = metric.get("name")
    # The sweep's metric is a column of its own unless it is the monitored one (its best value).
    extra = [name] if name and not any(name in run.best for run in runs) else []
    if sort is None and name:
        sort, ascending = name, metric.get("goal") == "minimize"
    swept = list(sweep.get("parameters") or {})  # a sweep's own keys first, in its order
    table = build_table(runs, sort=sort, ascending=ascending, extra_metrics=extra, first_keys=swept)
    if out is not None:
        table.write(Path(out))
        plot = plot or next((m for run in runs for m in run.best), None) or metric.get("name")
        if plot:
            png = Path(out) / f"{plot.replace('/', '_')}.png"
            table.plot = plot_overlay(runs, plot, png, table.keys)
    return table
