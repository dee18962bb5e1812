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


def interleaved(variants: dict[str, object], repeats: int) -> dict[str, list]:
    """Call each variant `repeats` times, alternating the order every round."""
    results = {name: [] for name in variants}
    names = list(variants)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            results[name].append(variants[name]())
            print(f"  {name} #{r + 1}: {results[name][-1]:.4g}", file=sys.stderr)
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
    raw = ["-m", "benchmarks.raw_loop", "--net", "linear", "--no-augment", "--data-dir",
           args.data_dir, "--epochs", str(epochs), "--batches", str(batches)]  # fmt: skip
    res = interleaved(
        {
            "ours": lambda: steady(run(ours, workdir)[1], "ms/step", args.clock),
            "raw": lambda: steady(run(raw, workdir)[1], "ms/step", args.clock),
        },
        args.repeats,
    )
    return _row("2. per-step time, Linear 784->10", res, "ms/step", "difference", 1.5)


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
            "help": lambda: run(["-m", "src", "--help"], workdir)[0],
            "fit": fit_start,
            "import": lambda: run(["-c", "import lightning"], workdir)[0],
        },
        args.repeats,
    )
    return [
        _row(
            "4. start-up: `--help` vs `import lightning`",
            {"ours": res["help"], "raw": res["import"]},
            "s",
            "ratio",
            1.15,
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


def bench_accuracy(args, workdir):
    rows = []
    targets = [("configs/mnist_fast.yaml", 0.99, 45.0)]
    if args.fashion:
        targets.append(("configs/fashion_mnist.yaml", 0.935, None))
    for config, accuracy, seconds in targets:
        walls, accs = [], []
        for _ in range(args.accuracy_repeats):
            cmd = [
                "-m",
                "src",
                "fit",
                "--config",
                config,
                "--data.data_dir",
                args.data_dir,
                "--run.root",
                str(workdir),
                "--trainer.enable_progress_bar",
                "false",
            ]
            wall, _, stdout = run(cmd, workdir)
            run_dir = Path(stdout.strip().splitlines()[-1].split("Run directory: ")[-1])
            metrics = list(csv.DictReader((run_dir / "metrics.csv").open()))
            walls.append(wall)
            accs.append([float(r["test/acc"]) for r in metrics if r.get("test/acc")][-1])
            print(f"  {config}: test acc {accs[-1]:.4f} in {wall:.1f} s", file=sys.stderr)
        wall, acc = statistics.median(walls), statistics.median(accs)
        met = acc >= accuracy and (seconds is None or wall <= seconds)
        goal = f"acc >= {accuracy}" + (f" in <= {seconds:.0f} s" if seconds else "")
        rows.append(
            {
                "benchmark": f"5. time to accuracy: `{config}`",
                "ours": f"{acc:.4f}",
                "reference": f"{wall:.1f} s whole process",
                "result": "",
                "goal": goal,
                "met": met,
                "samples": {"wall_s": walls, "test_acc": accs},
            }
        )
    return rows


def _row(name, res, unit, compare, goal, lower=False):
    ours, raw = statistics.median(res["ours"]), statistics.median(res["raw"])
    if compare == "ratio":
        value, result = ours / raw, f"{ours / raw:.3f}x"
        met = None if goal is None else (value <= goal if lower else value >= goal)
        goal_text = "" if goal is None else f"{'<=' if lower else '>='} {goal}x"
    else:
        value, result = ours - raw, f"{ours - raw:+.2f} {unit}"
        met, goal_text = value <= goal, f"<= +{goal} {unit}"
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
    parser.add_argument("--accuracy-repeats", type=int, default=1)
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
