"""Seeds, grids and searches over the CLI's dotted keys, and offline tables comparing runs.

    from src.experiments import compare_runs, load_spec, run_sweep

    spec = load_spec(grid={"model.optimizer.lr": [1e-3, 3e-3]}, seeds=3,
                     fit_args=["--config", "configs/digits.yaml"])
    table = run_sweep(spec, parallel=2)     # or load_spec("configs/sweeps/bayes.yaml")
    print(table.markdown())
    compare_runs("logs/digits", sort="test/acc", out="reports/")

Nothing here imports torch or Lightning: a sweep process only schedules trial processes.
"""

from src.experiments.compare import compare_runs
from src.experiments.errors import SweepError
from src.experiments.runner import SweepInterrupted, SweepOptions, run_sweep
from src.experiments.spec import SweepSpec, load_spec
from src.experiments.table import Table

__all__ = [
    "SweepError",
    "SweepInterrupted",
    "SweepOptions",
    "SweepSpec",
    "Table",
    "compare_runs",
    "load_spec",
    "run_sweep",
]
