"""Learning-rate schedules usable as `model.scheduler` in configs."""

from src.optim.warmup_cosine import WarmupCosine

__all__ = ["WarmupCosine"]
