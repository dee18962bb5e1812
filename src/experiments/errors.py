class SweepError(ValueError):
    """A mistake in a sweep's definition or options: `python -m src.sweep` prints it as one
    `error:` line and exits 2. (Not `src.errors.UsageError`: that module imports Lightning, which
    the sweep process, a light scheduler of trial processes, never needs.)"""
