from typing import Literal

import torch
from lightning.pytorch import Callback, LightningModule, Trainer


class PerformanceOptions(Callback):
    """Speed switches applied to the model's `net` when the trainer sets up (to the model itself
    where it has no `net`: its `forward`); all off by default.

    cuDNN autotuning is Lightning's own `--trainer.benchmark true` (worth it on a GPU with fixed
    input sizes, useless on CPU).

    Args:
        compile: `torch.compile` the net in place (checkpoints keep their parameter names). Pays
            a compile of tens of seconds at start-up for faster steps: a win on GPUs for runs
            longer than a minute, rarely on CPU.
        compile_mode: torch.compile's mode; `max-autotune` tries more kernels for a longer
            compile, `reduce-overhead` adds CUDA graphs (fixed batch shapes only).
        compile_backend: torch.compile's backend; `eager` checks tracing without code generation.
        channels_last: Store conv weights and feed images channels-last (NHWC): the layout
            tensor cores want for convolutions with mixed precision on GPUs. Slower on CPU.
        matmul_precision: `torch.set_float32_matmul_precision`: `high` lets float32 matmuls and
            convolutions use TF32 on Ampere+ GPUs. Null leaves PyTorch's default (`highest`).
    """

    def __init__(
        self,
        compile: bool = False,
        compile_mode: Literal[
            "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"
        ] = "default",
        compile_backend: str = "inductor",
        channels_last: bool = False,
        matmul_precision: Literal["highest", "high", "medium"] | None = None,
    ):
        self.compile, self.compile_mode, self.compile_backend = (
            compile,
            compile_mode,
            compile_backend,
        )
        self.channels_last, self.matmul_precision = channels_last, matmul_precision
        self._applied_to: set[int] = set()

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.matmul_precision is not None:
            torch.set_float32_matmul_precision(self.matmul_precision)
        net = getattr(pl_module, "net", None)
        net = net if isinstance(net, torch.nn.Module) else pl_module
        if id(net) in self._applied_to:  # `fit` then `test` sets up the same net twice
            return
        self._applied_to.add(id(net))
        if self.channels_last:
            net.to(memory_format=torch.channels_last)
            net.register_forward_pre_hook(_to_channels_last)
        if self.compile:
            net.compile(mode=self.compile_mode, backend=self.compile_backend)


def _to_channels_last(module, args):
    x, *rest = args
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *rest)
