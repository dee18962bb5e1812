"""Seeds, grids and Optuna searches of `fit`, resumable: `python -m src.sweep [SWEEP.yaml] ...`.

    python -m src.sweep --seeds 3 -- --config configs/digits.yaml
    python -m src.sweep --grid 'model.optimizer.lr=[1e-3, 3e-3]' \\
        --grid 'data.batch_size=[32, 64]' --parallel 2 -- --config configs/digits.yaml
    python -m src.sweep configs/sweeps/bayes.yaml --trials 30 --parallel 2

From Python: `run_sweep(load_spec(...), parallel=2)` returns the sweep's table.

Arguments after `--` go to every trial's `fit`. Each trial is a run directory in
`<root>/<name>/<trial>/`; running the same command again resumes the sweep. Exits 1 when a trial
failed (naming it), 2 on a mistake in the sweep, 130/143 when interrupted.
"""

import argparse
import sys

from src.errors import SweepError, show_warnings_in_one_line
from src.experiments.runner import SweepInterrupted, SweepOptions, run_sweep
from src.experiments.spec import SweepSpec, load_spec, parse_grid_option

__all__ = ["SweepInterrupted", "SweepOptions", "SweepSpec", "load_spec", "main", "run_sweep"]


def main(argv: list[str] | None = None) -> None:
    show_warnings_in_one_line()
    argv = sys.argv[1:] if argv is None else list(argv)
    fit_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(
        prog="python -m src.sweep", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add = parser.add_argument
    add("spec", nargs="?", help="a sweep YAML (W&B's schema, e.g. configs/sweeps/bayes.yaml)")
    add(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=VALUES",
        help="a grid over a dotted key, e.g. 'model.optimizer.lr=[1e-3, 3e-3]' (repeatable)",
    )
    add("--seeds", help="N seeds (0..N-1) or a list (0,7,9) of seed_everything for every config")
    add("--method", help="grid, random or bayes (tpe): overrides the YAML's")
    add("--trials", type=int, help="trials of a random/bayes search (default: the YAML's run_cap)")
    add("--parallel", type=int, default=1, help="trials at a time on this machine")
    add("--name", help="the sweep's name and folder (default: the YAML's name, or a hash)")
    add("--root", default="logs/sweeps", help="folder of sweep folders")
    add("--storage", help="Optuna storage shared by workers: a file (journal, .db) or a DB URL")
    add("--threads", type=int, help="CPU threads per trial (default: cores / parallel)")
    add("--gpus", help="GPU ids to hand out, one per trial (default: the visible ones; 'none')")
    add("--seed", type=int, help="the sampler's seed")
    add("--retry-failed", action="store_true", help="run failed trials again")
    add(
        "--stale-after",
        type=float,
        default=600.0,
        help="seconds without a heartbeat before another machine's running trial counts as dead",
    )
    args = parser.parse_args(argv)
    try:
        if args.parallel < 1:
            raise SweepError("--parallel must be at least 1")
        spec = load_spec(
            args.spec, grid=dict(parse_grid_option(g) for g in args.grid),
            seeds=_seeds(args.seeds), method=args.method, fit_args=fit_args, name=args.name,
        )  # fmt: skip
        table = run_sweep(
            spec, root=args.root, parallel=args.parallel, trials=args.trials,
            storage=args.storage, threads=args.threads, gpus=_gpus(args.gpus), seed=args.seed,
            retry_failed=args.retry_failed, stale_after=args.stale_after,
        )  # fmt: skip
    except SweepError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except SweepInterrupted as stop:
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:  # Ctrl-C before any trial started
        sys.exit(130)
    print(table.markdown())
    failed = [_described(table, row) for row in table.failed]
    unfinished = [row["run"] for row in table.rows if row["status"] in _UNFINISHED]
    if failed:
        print(f"error: {len(failed)} of {len(table.rows)} trials failed: {', '.join(failed)}",
              file=sys.stderr)  # fmt: skip
    if unfinished:
        print(f"error: {len(unfinished)} trials did not finish ({', '.join(unfinished)}): run "
              "the same command again to continue them", file=sys.stderr)  # fmt: skip
    if failed or unfinished:
        sys.exit(1)


_UNFINISHED = ("interrupted", "preempted", "killed")  # retried by the next run of the command


def _described(table, row) -> str:
    run = next(run for run in table.runs if run.name == row["run"])
    return f"{row['run']} ({(run.record or {}).get('error') or 'see its output.log'})"


def _gpus(text: str | None) -> list[str] | None:
    """`--gpus 0,1` -> ["0", "1"]; `--gpus none` -> [] (no GPU for any trial); absent: detect."""
    return None if text is None else [g for g in text.split(",") if g.strip() not in ("", "none")]


def _seeds(text: str | None):
    if text is None:
        return None
    try:
        values = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise SweepError(f"--seeds {text}: give a count (3) or seeds (0,7,9)") from None
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise SweepError("--seeds needs at least 1")
        return values[0]
    return values


if __name__ == "__main__":
    main()
