"""What the tools `python -m src.sweep` and `python -m src.compare` are made of: sweep
definitions (`spec`), the Optuna study and its storage, trial processes and their records, run
directories read back (`run_info`), the comparison table and its plot.

Use them through the tools: `from src.sweep import load_spec, run_sweep` and
`from src.compare import compare_runs`. Nothing here imports torch or Lightning (a sweep process
only schedules trial processes), except `pruning`, the callback that runs inside a trial.
"""
