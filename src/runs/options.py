from dataclasses import dataclass


@dataclass
class RunOptions:
    """Where a run writes its outputs.

    Args:
        name: Experiment name, the folder under `root`. Defaults to the first `--config` file's
            name (`configs/mnist.yaml` -> `mnist`), else the datamodule's name.
        root: Folder holding all experiments' run directories.
        test_after_fit: After `fit`, evaluate the best checkpoint on the test split.
        resume: Continue a stopped or killed run: its run directory, or `last` for the newest run
            under `root`. Training restarts from its `checkpoints/last.ckpt` with its saved
            config (later options override it), in the same directory and the same W&B run.
    """

    name: str | None = None
    root: str = "logs"
    test_after_fit: bool = True
    resume: str | None = None
