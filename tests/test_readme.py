"""README's Python snippets run as written, against a real run, so they cannot rot."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import FAST, run_dirs

README = Path(__file__).parent.parent / "README.md"
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```$", README.read_text(), flags=re.M | re.S)
# Snippets that use a run; files of the example package start with their path, `# mypkg/...`
SNIPPETS = [code for lang, code in BLOCKS if lang == "python" and not code.startswith("# mypkg/")]
OWN_SECTION = README.read_text().split("## Your own model and data")[1].split("\n## ")[0]


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


def test_the_example_package_runs_as_written(tmp_path, monkeypatch):
    """README's "Your own model and data": its file and its commands, exactly as written, in a
    fresh folder, with `python` the interpreter running the tests."""
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", OWN_SECTION, flags=re.M | re.S)
    (package,) = [code for lang, code in blocks if lang == "python"]
    (commands,) = [code for lang, code in blocks if lang == "bash"]
    assert len(package.splitlines()) <= 60
    path = tmp_path / package.splitlines()[0].removeprefix("# ")
    path.parent.mkdir()
    (path.parent / "__init__.py").write_text("")
    path.write_text(package)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "PYTHONPATH"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", WANDB_MODE="offline")
    done = subprocess.run(["bash", "-euc", commands], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "No test after fit: Denoiser has no test_step and NpzData has no" in done.stderr
    (run_dir,) = run_dirs(tmp_path / "logs")
    assert run_dir.parent.name == "npzdata"
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (config["checkpoint"]["monitor"], config["checkpoint"]["mode"]) == ("val/mse", "min")
    assert yaml.safe_load((run_dir / "status.yaml").read_text())["status"] == "finished"
    summary = yaml.safe_load((run_dir / "summary.yaml").read_text())
    assert summary["best"]["val/mse"] < 0.5  # the noise alone is 0.25: it denoises

    monkeypatch.chdir(tmp_path)  # where `data.npz` is, as for the commands
    sys.path.insert(0, str(tmp_path))
    try:
        from src.load_run import load_run

        model, data = load_run(run_dir)  # the net comes back from the config, linked
        assert model.net.layers[0].in_features == 16 and data.input_shape == (16,)
        best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
        assert all(torch.equal(best["state_dict"][k], v) for k, v in model.state_dict().items())
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "mypkg"]:
            del sys.modules[name]
