"""cProfile of one epoch's training batches of `python -m src fit`, as a callback.

    PROFILE_OUT=/tmp/steps.prof python -m src fit ... \
        --trainer.callbacks+=benchmarks.profile_steps.ProfileSteps
    python -m benchmarks.profile_steps /tmp/steps.prof   # the top functions, per step

Profiles from the first training batch of epoch `PROFILE_EPOCH` (default 1, the second: no
warm-up) to its last training batch's end (before validation and epoch-end work). cProfile's own
cost per call inflates Python-heavy code, so read the numbers as shares, and measure a change by
timing it (`benchmarks/run.py --only overhead`).
"""

import cProfile
import os
import pstats
import sys
from pathlib import Path

from lightning.pytorch import Callback


class ProfileSteps(Callback):
    def __init__(self):
        self.epoch = int(os.environ.get("PROFILE_EPOCH", "1"))
        self.profile = None
        self.steps = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == self.epoch and self.profile is None:
            self.profile = cProfile.Profile()
            self.profile.enable()
        if self.profile is not None:
            self.steps += 1

    def _stop(self):
        if self.profile is not None:
            self.profile.disable()
            self.profile.dump_stats(os.environ.get("PROFILE_OUT", "steps.prof"))
            with open(os.environ.get("PROFILE_OUT", "steps.prof") + ".steps", "w") as f:
                f.write(str(self.steps))
            self.profile = None
            self.epoch = -1

    def on_validation_start(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._stop()

    def on_train_epoch_end(self, trainer, pl_module):
        self._stop()


def main() -> None:
    path = sys.argv[1]
    steps = int(Path(path + ".steps").read_text())
    stats = pstats.Stats(path)
    stats.sort_stats(sys.argv[2] if len(sys.argv) > 2 else "cumulative")
    print(f"{steps} steps; total {1e6 * stats.total_tt / steps:.0f} us/step under cProfile")
    stats.print_stats(60)


if __name__ == "__main__":
    main()
