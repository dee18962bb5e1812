from lightning.pytorch import LightningDataModule


class SplitDataModule(LightningDataModule):
    """A datamodule whose four loaders differ only in the split they read.

    Subclasses implement `_loader(split)` and `split_size(split)` for "train", "val", "test" and
    "predict", and say what their targets are in `task` (checked against the model's).
    `predict_ids` names each predicted row for `predictions.csv`, beyond its position.
    """

    task: str = "multiclass"

    def _loader(self, split: str):
        raise NotImplementedError

    def split_size(self, split: str) -> int:
        """How many samples the split holds (after `setup`)."""
        raise NotImplementedError

    @property
    def predict_ids(self) -> dict[str, list]:
        """Columns that identify each predicted row in its source: {column name: values}."""
        return {}

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")

    def predict_dataloader(self):
        return self._loader("predict")
