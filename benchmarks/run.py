"""The benchmark suite: this codebase against hand-written PyTorch, as a markdown table and JSON.

    python benchmarks/run.py                      # everything, medians of 3 interleaved A/B runs
    python benchmarks/run.py --quick              # small sizes: checks the suite works in ~3 min
    python benchmarks/run.py --only throughput overhead --repeats 5
    python benchmarks/run.py --only accuracy --fashion   # also Fashion-MNIST (several minutes)

Every measurement is a fresh process (`python -m src fit ...` against `benchmarks/raw_loop.py`,
each loader in `benchmarks/data_path.py`), so both sides pay the same process set-up. A and B
runs alternate (A B, B A, A B...) so that a change in machine load hits both, and the table shows
medians. MNIST is read from `--data-dir` (torchvision's raw layout); the first run caches it.
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMER = "benchmarks.step_timer.StepTimer"
THREADS: dict[str, str] = {}  # --threads: the same intra-op thread count for every process


def run(cmd: list[str], workdir: Path) -> tuple[float, dict, str]:
    """Run `python <cmd>` from the repository root; (wall seconds, timer JSON, stdout)."""
    out = workdir / f"timer-{time.monotonic_ns()}.json"
    env = {**os.environ, "BENCH_TIMER_OUT": str(out), "WANDB_SILENT": "true", **THREADS}
    start = time.time()
    done = subprocess.run(
        [sys.executable, *cmd], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    wall = time.time() - start
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: python {' '.join(cmd)}\n{done.stderr[-3000:]}")
    timer = json.loads(out.read_text()) if out.exists() else {}
    timer["started"] = start
    return wall, timer, done.stdout


def interleaved(variants: dict[str, object], repeats: int, show=lambda r: f"{r:.4g}") -> dict:
    """Call each variant `repeats` times, alternating the order every round."""
    results = {name: [] for name in variants}
    names = list(variants)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            results[name].append(variants[name]())
            print(f"  {name} #{r + 1}: {show(results[name][-1])}", file=sys.stderr)
    return results


def steady(timer: dict, what: str, clock: str = "wall") -> float:
    """samples/s or ms/step over every epoch but the first (compilation, caches, warm-up)."""
    epochs = timer["epochs"][1:]
    seconds = sum(e["cpu_seconds" if clock == "cpu" else "seconds"] for e in epochs)
    if what == "samples/s":
        return sum(e["samples"] for e in epochs) / seconds
    return 1000 * seconds / sum(e["steps"] for e in epochs)


def fit_args(args, workdir: Path, *extra: str) -> list[str]:
    return [
        "-m", "src", "fit", "--data.data_dir", args.data_dir, "--run.root", str(workdir),
        "--run.test_after_fit", "false", "--trainer.limit_val_batches", "2",
        f"--trainer.callbacks+={TIMER}", *extra,
    ]  # fmt: skip


def bench_throughput(args, workdir):
    epochs, batches = (2, 20) if args.quick else (3, 100)
    size = ["--trainer.max_epochs", str(epochs), "--trainer.limit_train_batches", str(batches)]
    ours = fit_args(args, workdir, "--config", "configs/mnist.yaml", *size)
    raw = ["-m", "benchmarks.raw_loop", "--net", "cnn", "--data-dir", args.data_dir,
           "--epochs", str(epochs), "--batches", str(batches)]  # fmt: skip
    res = interleaved(
        {
            "ours": lambda: steady(run(ours, workdir)[1], "samples/s", args.clock),
            "raw": lambda: steady(run(raw, workdir)[1], "samples/s", args.clock),
        },
        args.repeats,
    )
    return _row("1. training throughput, SmallCNN on MNIST", res, "samples/s", "ratio", 0.97)


def bench_overhead(args, workdir):
    epochs, batches = (2, 50) if args.quick else (2, 300)
    ours = fit_args(
        args, workdir, "--data", "MNISTDataModule", "--model.net", "MLPNet",
        "--model.net.hidden_dims", "[]", "--trainer.max_epochs", str(epochs),
        "--trainer.limit_train_batches", str(batches),
    )  # fmt: skip
    size = ["--data-dir", args.data_dir, "--epochs", str(epochs), "--batches", str(batches)]
    raw = ["-m", "benchmarks.raw_loop", "--net", "linear", "--no-augment", *size]
    bare = ["-m", "benchmarks.lightning_floor", *size]  # Lightning's loop alone: the floor
    res = interleaved(
        {
            "ours": lambda: steady(run(ours, workdir)[1], "ms/step", args.clock),
            "raw": lambda: steady(run(raw, workdir)[1], "ms/step", args.clock),
            "bare": lambda: steady(run(bare, workdir)[1], "ms/step", args.clock),
        },
        args.repeats,
    )
    return [
        _row("2. per-step time, Linear 784->10", res, "ms/step", "difference", 0.5),
        _row(
            "2. per-step time: a bare Lightning Trainer, same model and data",
            {"ours": res["bare"], "raw": res["raw"]},
            "ms/step",
            "difference",
            None,
        ),
    ]


def bench_data(args, workdir):
    batches = "400"  # one epoch of MNIST at batch 128 is 421: shorter runs are mostly noise

    def loader(path):
        cmd = ["-m", "benchmarks.data_path", path, "--data-dir", args.data_dir]
        return lambda: json.loads(run([*cmd, "--batches", batches], workdir)[2])["samples_per_s"]

    paths = ("ours", "plain", "per_sample", "torchvision")
    res = interleaved({p: loader(p) for p in paths}, args.repeats)
    return [
        _row(
            "3. data path: default vs plain tensor slicing",
            {"ours": res["ours"], "raw": res["plain"]},
            "samples/s",
            "ratio",
            0.95,
        ),
        _row(
            "3. data path: default vs per-sample DataLoader",
            {"ours": res["ours"], "raw": res["per_sample"]},
            "samples/s",
            "ratio",
            None,
        ),
        _row(
            "3. data path: default vs torchvision MNIST+ToTensor",
            {"ours": res["ours"], "raw": res["torchvision"]},
            "samples/s",
            "ratio",
            None,
        ),
    ]


def bench_startup(args, workdir):
    one_step = fit_args(
        args, workdir, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1"
    )

    def fit_start():
        _, timer, _ = run(one_step, workdir)
        return timer["first_step_at"] - timer["started"]

    res = interleaved(
        {
            "help": lambda: run(["-m", "src", "fit", "--help"], workdir)[0],
            "fit": fit_start,
            "import": lambda: run(["-c", "import lightning"], workdir)[0],
        },
        args.repeats,
    )
    return [
        _row(
            "4. start-up: `fit --help` vs `import lightning`",
            {"ours": res["help"], "raw": res["import"]},
            "s",
            "ratio",
            1.1,
            lower=True,
        ),
        _row(
            "4. start-up: `fit` to first step vs `import lightning`",
            {"ours": res["fit"], "raw": res["import"]},
            "s",
            "ratio",
            1.5,
            lower=True,
        ),
    ]


def _fit_to_accuracy(config: str, args, workdir: Path) -> tuple[float, float]:
    """(whole-process seconds, test accuracy) of `python -m src fit --config <config>`."""
    cmd = ["-m", "src", "fit", "--config", config, "--data.data_dir", args.data_dir,
           "--run.root", str(workdir)]  # fmt: skip
    wall, _, stdout = run(cmd, workdir)
    run_dir = Path(stdout.strip().splitlines()[-1].split("Run directory: ")[-1])
    metrics = list(csv.DictReader((run_dir / "metrics.csv").open()))
    return wall, [float(r["test/acc"]) for r in metrics if r.get("test/acc")][-1]


def _hand_loop(args, workdir: Path) -> tuple[float, float]:
    wall, _, stdout = run(["benchmarks/hand_loop.py", "--data-dir", args.data_dir], workdir)
    return wall, json.loads(stdout.strip().splitlines()[-1])["test_acc"]


def bench_accuracy(args, workdir):
    """The fastest MNIST config against the hand-written loop, whole process (imports, data,
    validation and checkpoints, test), interleaved; then Fashion-MNIST's best config."""
    res = interleaved(
        {
            "ours": lambda: _fit_to_accuracy("configs/mnist_fast.yaml", args, workdir),
            "hand": lambda: _hand_loop(args, workdir),
        },
        args.accuracy_repeats,
        show=lambda r: f"{r[0]:.1f} s, test acc {r[1]:.4f}",
    )
    walls = {k: [w for w, _ in v] for k, v in res.items()}
    accs = {k: [a for _, a in v] for k, v in res.items()}
    ours, hand = statistics.median(walls["ours"]), statistics.median(walls["hand"])
    acc, hand_acc = statistics.median(accs["ours"]), statistics.median(accs["hand"])
    rows = [{
        "benchmark": "5. time to 99% on MNIST: `configs/mnist_fast.yaml` vs the hand loop",
        "ours": f"{ours:.1f} s, test acc {acc:.4f}",
        "reference": f"{hand:.1f} s, test acc {hand_acc:.4f}",
        "result": f"{ours / hand:.3f}x", "goal": "acc >= 0.99 in <= 1.0x",
        "met": acc >= 0.99 and ours <= hand, "samples": {"wall_s": walls, "test_acc": accs},
    }]  # fmt: skip
    if args.fashion:
        wall, acc = _fit_to_accuracy("configs/fashion_mnist_best.yaml", args, workdir)
        rows.append({
            "benchmark": "5. Fashion-MNIST: `configs/fashion_mnist_best.yaml`",
            "ours": f"test acc {acc:.4f}", "reference": f"{wall:.0f} s whole process",
            "result": "", "goal": "acc >= 0.935", "met": acc >= 0.935,
            "samples": {"wall_s": [wall], "test_acc": [acc]},
        })  # fmt: skip
    return rows


def _row(name, res, unit, compare, goal, lower=False):
    ours, raw = statistics.median(res["ours"]), statistics.median(res["raw"])
    if compare == "ratio":
        value, result = ours / raw, f"{ours / raw:.3f}x"
        met = None if goal is None else (value <= goal if lower else value >= goal)
        goal_text = "" if goal is None else f"{'<=' if lower else '>='} {goal}x"
    else:
        value, result = ours - raw, f"{ours - raw:+.2f} {unit} ({ours / raw:.2f}x)"
        met = None if goal is None else value <= goal
        goal_text = "" if goal is None else f"<= +{goal} {unit}"
    return {"benchmark": name, "ours": f"{ours:.4g} {unit}", "reference": f"{raw:.4g} {unit}",
            "result": result, "goal": goal_text, "met": met, "samples": res}  # fmt: skip


BENCHES = {
    "throughput": bench_throughput,
    "overhead": bench_overhead,
    "data": bench_data,
    "startup": bench_startup,
    "accuracy": bench_accuracy,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), default=list(BENCHES))
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the suite")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per variant")
    parser.add_argument("--accuracy-repeats", type=int, default=3)
    parser.add_argument("--fashion", action="store_true", help="also Fashion-MNIST to 93.5%%")
    parser.add_argument("--data-dir", default="data", help="holds MNIST/raw (and FashionMNIST)")
    parser.add_argument("--json", default="benchmarks/results.json", help="where to write JSON")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="time training steps by wall clock, or by the process's CPU time (steadier when "
        "other jobs share the machine; use with --threads 1)",
    )
    parser.add_argument(
        "--threads", type=int, help="OMP_NUM_THREADS for every process (default: PyTorch's)"
    )
    args = parser.parse_args()
    if args.threads:
        THREADS.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    args.data_dir = str(Path(args.data_dir).resolve())
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        if args.quick and not (Path(args.data_dir) / "MNIST" / "raw").is_dir():
            args.data_dir = str(_small_mnist(Path(tmp) / "data"))  # checks the suite, offline
        for name in args.only:
            print(f"{name}...", file=sys.stderr)
            result = BENCHES[name](args, Path(tmp))
            rows += result if isinstance(result, list) else [result]
            machine = {"cpus": os.cpu_count(), "load": os.getloadavg()}
            date = time.strftime("%Y-%m-%d %H:%M:%S")
            record = {"args": vars(args), "date": date, "machine": machine, "rows": rows}
            Path(args.json).write_text(json.dumps(record, indent=1))  # kept if a later one fails
    print(table(rows))
    print(f"\nJSON: {args.json}", file=sys.stderr)


def _small_mnist(root: Path) -> Path:
    """A small MNIST in torchvision's raw layout, as the tests write it (no download)."""
    sys.path.insert(0, str(ROOT))
    from tests.conftest import make_mnist_like

    print(f"--quick without MNIST in --data-dir: a small one in {root}", file=sys.stderr)
    return make_mnist_like(root, "MNIST", n_train=6000, n_test=1000)


def table(rows: list[dict]) -> str:
    lines = ["| benchmark | ours | reference | result | goal | met |", "|---|---|---|---|---|---|"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        lines.append(f"| {r['benchmark']} | {r['ours']} | {r['reference']} | {r['result']} "
                     f"| {r['goal']} | {met} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
