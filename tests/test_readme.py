"""README's Python snippets run as written, against a real run, so they cannot rot."""

import re
from pathlib import Path

import pytest

from tests.conftest import FAST

README = Path(__file__).parent.parent / "README.md"
SNIPPETS = re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.M | re.S)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from src.cli import main

    root = tmp_path_factory.mktemp("runs")
    main(["fit", *FAST, "--run.root", str(root)])
    (path,) = root.glob("digits/*/")
    return path


def test_readme_has_the_snippets_it_promises():
    assert len(SNIPPETS) >= 3 and all("logs/digits/<run>" in s for s in SNIPPETS)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(snippet, run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # what the snippets write (a data cache) lands here
    code = snippet.replace("logs/digits/<run>", str(run_dir))
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    capsys.readouterr()


def test_a_model_built_in_python_loads_with_its_net(tmp_path, capsys):
    """What the notebook section says of models built outside the CLI."""
    import warnings

    import torch
    from lightning.pytorch import Trainer

    from src.data import DigitsDataModule
    from src.models import ImageClassifier
    from src.nets import SmallCNN

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "Attribute 'net' is an nn.Module"
        model = ImageClassifier(SmallCNN((1, 8, 8), 10, channels=[8]), scheduler=None)
    trainer = Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(model, DigitsDataModule(batch_size=16))
    trainer.save_checkpoint(tmp_path / "python.ckpt")
    assert "net" not in torch.load(tmp_path / "python.ckpt", weights_only=True)["hyper_parameters"]
    loaded = ImageClassifier.load_from_checkpoint(
        tmp_path / "python.ckpt", net=SmallCNN((1, 8, 8), 10, channels=[8]), weights_only=True
    )
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), model.eval()(x))
