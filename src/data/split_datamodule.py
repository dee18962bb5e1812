from lightning.pytorch import LightningDataModule


class SplitDataModule(LightningDataModule):
    """A datamodule whose four loaders differ only in the split they read.

    Subclasses implement `_loader(split)` for "train", "val", "test" and "predict".
    """

    def _loader(self, split: str):
        raise NotImplementedError

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")

    def predict_dataloader(self):
        return self._loader("predict")
