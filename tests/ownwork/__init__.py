"""A researcher's own package, as the project has never seen it: a plain LightningModule and a
plain LightningDataModule that import nothing from `src`. The model has no `num_classes` and no
`monitor`; the datamodule has neither `num_classes` nor `input_shape`. Used by
tests/test_own_work.py, which puts this folder's parent on the path (PYTHONPATH for processes).
"""

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningDataModule, LightningModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class SumModel(LightningModule):
    """Predicts the sum of a vector's entries: a task the project ships no model for."""

    def __init__(self, width: int = 8, hidden: int = 16, lr: float = 0.01):
        super().__init__()
        self.save_hyperparameters()
        self.layers = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.layers(x).squeeze(-1)

    def _loss(self, batch):
        x, y = batch
        return F.mse_loss(self(x), y)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self._loss(batch))

    def test_step(self, batch, batch_idx):
        self.log("test/loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)


class SumData(LightningDataModule):
    """Random vectors and their sums, generated from `seed`, split 80/10/10."""

    def __init__(self, rows: int = 2048, width: int = 8, batch_size: int = 16, seed: int = 0):
        super().__init__()
        self.rows, self.width, self.batch_size, self.seed = rows, width, batch_size, seed

    def setup(self, stage: str) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        x = torch.randn(self.rows, self.width, generator=generator)
        data = TensorDataset(x, x.sum(-1))
        n = self.rows // 10
        self.train, self.val, self.test = torch.utils.data.random_split(
            data, [self.rows - 2 * n, n, n], generator=generator
        )

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=self.batch_size)

    def test_dataloader(self):
        return DataLoader(self.test, batch_size=self.batch_size)

    def predict_dataloader(self):
        return self.test_dataloader()
