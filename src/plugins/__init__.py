"""Trainer plugins (`trainer.plugins`)."""

from src.plugins.atomic_checkpoint_io import AtomicCheckpointIO

__all__ = ["AtomicCheckpointIO"]
