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

from src.experiments import SweepError, compare_runs


def main(argv: list[str] | None = None) -> None:
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
