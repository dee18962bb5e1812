import torch
from torch import Tensor

from src.data.tabular_datamodule import TabularDataModule


class DiabetesDataModule(TabularDataModule):
    """scikit-learn's bundled diabetes regression data: 442 patients, no download.

    Ten baseline measurements (age, sex, BMI, blood pressure, six blood serum values) predict a
    quantitative measure of disease progression one year later.

    Args:
        **kwargs: See `TabularDataModule` (task is regression).
    """

    def load_names(self) -> tuple[list[str], list[str]]:
        return ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"], ["progression"]

    def load(self) -> tuple[Tensor, Tensor]:
        from sklearn.datasets import load_diabetes  # imported here: keeps CLI start-up fast

        x, y = load_diabetes(return_X_y=True, scaled=False)
        return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)[:, None]
