"""Compare runs offline: `python -m src.compare <sweep folder, experiment folder or runs>...`.

    python -m src.compare logs/sweeps/lr-grid
    python -m src.compare logs/digits --sort test/acc --plot val/loss --out reports/digits

Lists every run found: status, duration, best and test metrics, and the config keys that
differ; runs that differ only in the seed are grouped (mean ± std, n). Writes runs.csv, runs.md
(runs_by_seed.csv too) and <metric>.png, the metric's curve of every run, into --out (default:
the first folder given). Reads only run directories: no network, no W&B.
"""

import argparse
import sys
from pathlib import Path

from src.errors import SweepError, show_warnings_in_one_line
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


def main(argv: list[str] | None = None) -> None:
    show_warnings_in_one_line()
    parser = argparse.ArgumentParser(
        prog="python -m src.compare", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("paths", nargs="+", help="run directories or folders holding runs")
    parser.add_argument("--sort", help="metric column to sort by (default: the best value)")
    order = parser.add_mutually_exclusive_group()
    order.add_argument("--ascending", action="store_true", default=None, help="lowest first")
    order.add_argument("--descending", dest="ascending", action="store_false", help="highest first")
    parser.add_argument("--plot", help="metric whose curves to overlay (default: the monitored)")
    parser.add_argument(
        "--out", help="folder for the CSV, markdown and PNG (default: the first path)"
    )
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path(args.paths[0])
    if not out.is_dir() and not args.out:
        out = out.parent
    try:
        table = compare_runs(*args.paths, sort=args.sort, ascending=args.ascending,
                             plot=args.plot, out=out)  # fmt: skip
    except SweepError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(table.markdown())
    written = ", ".join(str(p) for p in [out / "runs.csv", out / "runs.md", table.plot] if p)
    print(f"\nWritten: {written}")


if __name__ == "__main__":
    main()
