"""The metric checkpointing and early stopping follow: the user's, else the model's.

`--checkpoint.monitor auto` (the default) takes the model class's optional `monitor` attribute,
and `--checkpoint.mode auto` its `monitor_mode`; a model without them is monitored on `val/loss`,
lower is better. A metric the user names gets the model's mode when it is the model's own
metric, else the mode its name says (`loss`, `mse`, `error`...: min; anything else: max).
"""

import re

AUTO = "auto"
FALLBACK = ("val/loss", "min")
_LOWER_IS_BETTER = re.compile(r"loss|mse|mae|rmse|error|err\b|perplexity", re.IGNORECASE)


def lower_is_better(metric: str) -> bool:
    """Whether the metric's name says a lower value is better (a loss, an error)."""
    return bool(_LOWER_IS_BETTER.search(metric))


def resolve_monitor(model_class: type, monitor: str | None, mode: str) -> tuple[str | None, str]:
    """`(monitor, mode)` with `auto` replaced as the module docstring says."""
    from src.errors import UsageError

    own = getattr(model_class, "monitor", None)
    own_mode = getattr(model_class, "monitor_mode", None)
    name = getattr(model_class, "__name__", str(model_class))
    if own is not None and not (isinstance(own, str) and own):
        raise UsageError(f"{name}.monitor must be the name of a logged metric, got {own!r}")
    if own_mode is not None and own_mode not in ("min", "max"):
        raise UsageError(f"{name}.monitor_mode must be 'min' or 'max', got {own_mode!r}")
    if monitor == AUTO:
        monitor = own or FALLBACK[0]
    if mode != AUTO or monitor is None:
        return monitor, "min" if mode == AUTO else mode
    if own and monitor == own and own_mode:
        return monitor, own_mode
    return monitor, "min" if lower_is_better(monitor) else "max"
