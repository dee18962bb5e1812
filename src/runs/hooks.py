"""No per-batch call to a hook that does nothing.

Lightning calls every callback's hook on every batch, overridden or not, each through its
profiler context and an f-string of the callback's `state_key` (~4 µs a call on the 2-core
machine; with the default callbacks ~100 such calls a training step, ~0.4 ms), and the model's
no-op hooks the same way (~10 µs each: `_current_fx_name` is set twice through
`nn.Module.__setattr__`). It skips a hook that is not callable (`trainer/call.py`), so a hook
the class does not override is set to None on the instance: Lightning then skips it. Only
per-batch hooks: those called once per run cost nothing worth it.
"""

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.core.hooks import ModelHooks

TRAINING_STEP_HOOKS = (
    "on_train_batch_start", "on_train_batch_end", "on_before_backward", "on_after_backward",
    "on_before_optimizer_step", "on_before_zero_grad",
)  # fmt: skip
# The model's evaluation batch hooks stay: Lightning reads their signatures (`dataloader_idx`).
PER_BATCH_HOOKS = TRAINING_STEP_HOOKS + tuple(
    f"on_{stage}_batch_{when}"
    for stage in ("validation", "test", "predict")
    for when in ("start", "end")
)


def skip_noop_hooks(trainer: Trainer, pl_module: LightningModule | None = None) -> None:
    """Set each per-batch hook that is the base class's no-op to None on the instance."""
    targets = [(callback, Callback, PER_BATCH_HOOKS) for callback in trainer.callbacks]
    if pl_module is not None:
        targets.append((pl_module, ModelHooks, TRAINING_STEP_HOOKS))
    for target, base, hooks in targets:
        for hook in hooks:
            if hook in vars(target) or not hasattr(base, hook):
                continue  # set on the instance by someone: theirs
            if getattr(type(target), hook, None) is getattr(base, hook):
                object.__setattr__(target, hook, None)
