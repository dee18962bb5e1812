"""Before a new sweep's first trial: do the trials' command lines parse?

A key the CLI does not accept, a missing config file or a typo in the shared arguments would
fail every trial the same way: `fit --print_config` (one process, no training) says so once, as
one `error:` line, before anything is created. A value only some trials have (a grid point the
model rejects) is the trial's failure, not the sweep's: parsing stops at the first point that
parses.
"""

import subprocess
import sys

import yaml

from src.errors import SweepError
from src.experiments.spec import SweepSpec, cli_args
from src.experiments.trial import error_line, trial_env

_TRIES = 3


def check_command_line(spec: SweepSpec, pruning: bool) -> dict:
    """Parse the first trials' command lines; return the metric they report (`name`, `goal`):
    the sweep's, or for a grid without one, the monitored metric of the resolved config."""
    callbacks = ["--trainer.callbacks+=src.experiments.pruning.OptunaPruning"] if pruning else []
    errors = []
    for params in _first_points(spec):
        command = [sys.executable, "-m", "src", "fit", *spec.fit_args, *cli_args(params),
                   *callbacks, "--print_config"]  # fmt: skip
        env = trial_env(0, 1, [], {})
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode == 0:
            return spec.metric or _monitored(yaml.safe_load(done.stdout))
        errors.append(error_line(done.stderr.splitlines(), done.returncode))
    raise SweepError(f"the trials' command line is not accepted: {errors[0]}")


def _first_points(spec: SweepSpec) -> list[dict]:
    if spec.method == "grid":
        return spec.grid()[:_TRIES]
    first = {k: p["values"][0] if "values" in p else p["min"] for k, p in spec.parameters.items()}
    return [first]


def _monitored(config: dict) -> dict:
    checkpoint = config.get("checkpoint") or {}
    goal = "minimize" if checkpoint.get("mode") == "min" else "maximize"
    return {"name": checkpoint.get("monitor") or "val/acc", "goal": goal}
