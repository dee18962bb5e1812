"""The GPU path, checked end to end: one command, a table, and JSON.

    python benchmarks/gpu.py --data-dir /path/to/datasets          # on a GPU machine
    python benchmarks/gpu.py --data-dir /path/to/datasets --device cpu --quick   # the script itself

For every precision (32-true, bf16-mixed, 16-mixed) with and without `--perf.compile` and
`--perf.channels_last`, a short `python -m src fit` on MNIST must finish, its training loss fall,
its best checkpoint reload (`load_run`) and give the predictions `python -m src predict` wrote,
and `python -m src.export` run. Then DDP (`--trainer.devices 1 --trainer.strategy ddp`, and all
GPUs when there are more), a run stopped by SIGTERM and resumed, and the speed rows of
`benchmarks/run.py` (throughput against the hand-written loop, per-step overhead) on this device.
On the CPU (`--device cpu`) 16-mixed is skipped and compile uses the eager backend.
"""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import bench_overhead, bench_throughput, table  # noqa: E402


def python(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


def fit(args, root: Path, *extra: str) -> tuple[subprocess.CompletedProcess, Path | None]:
    done = python(
        "-m", "src", "fit", "--config", "configs/presets/gpu.yaml" if args.device == "cuda"
        else "configs/presets/cpu.yaml", "--data", "MNISTDataModule", "--data.data_dir",
        args.data_dir, "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
        "--trainer.max_epochs", "2", "--trainer.limit_train_batches", str(args.batches),
        "--trainer.limit_val_batches", "5", "--trainer.limit_test_batches", "5",
        "--run.root", str(root), *extra,
    )  # fmt: skip
    dirs = [line.split("Run directory: ")[1] for line in done.stdout.splitlines()
            if line.startswith("Run directory: ")]  # fmt: skip
    return done, Path(dirs[-1]) if dirs else None


def check_variant(args, root: Path, precision: str, compile_: bool, channels_last: bool) -> dict:
    extra = ["--trainer.precision", precision, "--perf.compile", str(compile_).lower(),
             "--perf.channels_last", str(channels_last).lower()]  # fmt: skip
    if compile_ and args.device == "cpu":
        extra += ["--perf.compile_backend", "eager"]
    result = {"precision": precision, "compile": compile_, "channels_last": channels_last}
    start = time.perf_counter()
    done, run_dir = fit(args, root, *extra)
    result["fit_s"] = round(time.perf_counter() - start, 1)
    result["fit"] = done.returncode == 0 and run_dir is not None
    if not result["fit"]:
        result["error"] = done.stderr.strip().splitlines()[-1:] or ["?"]
        return result
    losses = [float(r["train/loss_step"]) for r in csv.DictReader((run_dir / "metrics.csv").open())
              if r.get("train/loss_step")]  # fmt: skip
    result["loss_falls"] = len(losses) > 1 and losses[-1] < losses[0]
    best = run_dir / "checkpoints" / "best.ckpt"
    predicted = python("-m", "src", "predict", "--config", str(run_dir / "config.yaml"),
                       "--ckpt_path", str(best), *extra[:2])  # fmt: skip
    result["predict"] = predicted.returncode == 0
    result["reload_same"] = result["predict"] and _same_predictions(run_dir, precision)
    exported = python("-m", "src.export", str(run_dir), "--format", "pt2")
    result["export"] = exported.returncode == 0
    return result


def _same_predictions(run_dir: Path, precision: str) -> bool:
    """The checkpoint reloaded in this process predicts what `python -m src predict` wrote."""
    from src.load_run import load_run

    (written,) = run_dir.glob("predict/*/predictions.csv")
    rows = list(csv.DictReader(written.open()))
    model, datamodule = load_run(run_dir)
    datamodule.setup("predict")
    images, _ = datamodule.on_after_batch_transfer(next(iter(datamodule.predict_dataloader())), 0)
    with torch.no_grad():
        probs = model.predict(images)
    cli = torch.tensor([[float(r[f"prob/{c}"]) for c in range(10)] for r in rows[: len(probs)]])
    tolerance = 1e-4 if precision == "32-true" else 3e-2  # the CLI ran in reduced precision
    return bool(torch.allclose(probs.float(), cli, atol=tolerance))


def check_ddp(args, root: Path) -> list[dict]:
    counts = [1] + ([torch.cuda.device_count()] if torch.cuda.device_count() > 1 else [])
    rows = []
    for devices in counts:
        done, run_dir = fit(args, root / f"ddp{devices}", "--trainer.devices", str(devices),
                            "--trainer.strategy", "ddp")  # fmt: skip
        rows.append({"check": f"ddp on {devices} device(s)", "ok": done.returncode == 0,
                     "run_dir": str(run_dir)})  # fmt: skip
    return rows


def check_resume_after_kill(args, root: Path) -> dict:
    device = "configs/presets/gpu.yaml" if args.device == "cuda" else "configs/presets/cpu.yaml"
    command = [sys.executable, "-m", "src", "fit", "--config", device, "--data",
               "MNISTDataModule", "--data.data_dir", args.data_dir, "--trainer.logger", "false",
               "--trainer.max_epochs", "3", "--checkpoint.last_every_n_train_steps", "20",
               "--run.root", str(root / "killed"), "--run.resume", "auto"]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not list((root / "killed").glob("*/*/checkpoints/last.ckpt")):
        if proc.poll() is not None or time.monotonic() > deadline:
            return {"check": "resume after SIGTERM", "ok": False, "error": "ended before a kill"}
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=300)
    stopped = proc.returncode == 128 + signal.SIGTERM
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    return {"check": "resume after SIGTERM", "ok": stopped and resumed.returncode == 0,
            "stop_exit_code": proc.returncode, "resume_exit_code": resumed.returncode}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="data", help="holds MNIST/raw")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="fewer variants and batches")
    parser.add_argument("--json", default="benchmarks/gpu-results.json")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: no GPU visible: run it on a GPU machine, or --device cpu to check it")
    args.data_dir, args.batches = str(Path(args.data_dir).resolve()), 20 if args.quick else 100
    precisions = ["32-true", "bf16-mixed"] + (["16-mixed"] if args.device == "cuda" else [])
    switches = [(False, False), (True, True)] if args.quick else [
        (c, cl) for c in (False, True) for cl in (False, True)]  # fmt: skip
    record = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        root = Path(tmp)
        record["variants"] = [check_variant(args, root, p, c, cl)
                              for p in precisions for c, cl in switches]  # fmt: skip
        record["checks"] = [*check_ddp(args, root), check_resume_after_kill(args, root)]
        speed = argparse.Namespace(quick=args.quick, data_dir=args.data_dir, repeats=3,
                                   clock="wall")  # fmt: skip
        record["speed"] = [bench_throughput(speed, root), bench_overhead(speed, root)]
    Path(args.json).write_text(json.dumps(record, indent=1, default=str))
    keys = ["precision", "compile", "channels_last", "fit", "loss_falls", "reload_same",
            "predict", "export", "fit_s"]  # fmt: skip
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for v in record["variants"]:
        print("| " + " | ".join(str(v.get(k, "")) for k in keys) + " |")
    for c in record["checks"]:
        print(f"- {c['check']}: {'ok' if c['ok'] else 'FAILED ' + str(c)}")
    print(table(record["speed"]))
    print(f"\n{record['device']}, torch {record['torch']}, {record['date']}; JSON: {args.json}")


if __name__ == "__main__":
    main()
