"""Offline tables comparing runs.

    from src.experiments import compare_runs

    compare_runs("logs/digits", sort="test/acc", out="reports/")
"""

from src.experiments.compare import compare_runs
from src.experiments.errors import SweepError
from src.experiments.table import Table

__all__ = ["SweepError", "Table", "compare_runs"]
