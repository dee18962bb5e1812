from collections.abc import Mapping

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only


class BatchedWandbLogger(WandbLogger):
    """Lightning's `WandbLogger`, sending each step's metrics to W&B in one `log` call.

    On a logging step the learning-rate monitor, the trainer's step metrics (and any callback that
    logs to the loggers itself) each call `log_metrics`; every `wandb.log` call costs ~1 ms of the
    training loop's time (the record is serialised and sent to W&B's service process, also
    offline), and makes a history row of its own. Metrics for the same step are merged and sent
    when a later step comes, and on `save` (which the trainer calls after its own `log_metrics`)
    and `finalize`. The point-loggers-at-the-run step makes the CLI's W&B logger this one.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending: dict = {}
        self._pending_step: int | None = None

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self._pending and (step is None or step != self._pending_step):
            self._flush()
        if step is None:
            super().log_metrics(metrics, step)
            return
        self._pending.update(metrics)
        self._pending_step = step

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        if pending:
            super().log_metrics(pending, self._pending_step)

    @rank_zero_only
    def save(self) -> None:
        self._flush()
        super().save()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self._flush()
        super().finalize(status)
