"""The comparison table: one row per run, its metrics, and only the config keys that differ.

Runs that differ only in `seed_everything` are also grouped: mean +- std over the seeds, n.
"""

import csv
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from src.experiments.run_info import RunInfo
from src.experiments.spec import SEED_KEY
from src.files import replaced_atomically, write_atomically
from src.runs.monitor import lower_is_better


@dataclass
class Table:
    """`rows`: one dict per run (`run`, `status`, `duration_s`, metrics, differing keys);
    `groups`: one per config when runs differ in the seed (`n`, `<metric> mean`/`std`)."""

    rows: list[dict]
    metrics: list[str]
    keys: list[str]
    groups: list[dict] = field(default_factory=list)
    runs: list[RunInfo] = field(default_factory=list)
    plot: Path | None = None  # the overlay PNG, once written

    @property
    def columns(self) -> list[str]:
        return ["run", "status", "duration_s", *self.metrics, *self.keys]

    @property
    def group_columns(self) -> list[str]:
        keys = [k for k in self.keys if k != SEED_KEY]
        return [*keys, "n", *(f"{m} {s}" for m in self.metrics for s in ("mean", "std"))]

    @property
    def failed(self) -> list[dict]:
        return [row for row in self.rows if row["status"] == "failed"]

    def markdown(self) -> str:
        text = _markdown(
            self.columns, [[_format(r.get(c)) for c in self.columns] for r in self.rows]
        )
        if self.groups:
            keys = [k for k in self.keys if k != SEED_KEY]
            header = [*keys, "n", *(f"{m} (mean ± std)" for m in self.metrics)]
            body = [
                [*(_format(g[k]) for k in keys), str(g["n"]),
                 *(_mean_std(g[f"{m} mean"], g[f"{m} std"]) for m in self.metrics)]
                for g in self.groups
            ]  # fmt: skip
            text += "\n\nGrouped over seeds:\n\n" + _markdown(header, body)
        return text

    def write(self, folder: Path, name: str = "runs") -> list[Path]:
        """`<name>.csv` and `<name>.md` (and `<name>_by_seed.csv` when grouped) in `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = [_csv(folder / f"{name}.csv", [*self.columns, "run_dir"], self.rows)]
        if self.groups:
            paths.append(_csv(folder / f"{name}_by_seed.csv", self.group_columns, self.groups))
        markdown = folder / f"{name}.md"
        write_atomically(markdown, self.markdown() + "\n")
        return [*paths, markdown]


def build_table(
    runs: list[RunInfo],
    sort: str | None = None,
    ascending: bool | None = None,
    extra_metrics: list[str] = (),
    first_keys: list[str] = (),
) -> Table:
    """Rows for `runs`, best first by `sort` (a metric column; by default the first best value):
    descending unless the monitored mode is min or the name says loss or error. `extra_metrics`
    are columns from the sweep's records; `first_keys` lead the differing keys."""
    monitors = list(dict.fromkeys(m for run in runs for m in run.best))
    tests = sorted({m for run in runs for m in run.test})
    metrics = [f"{m} (best)" for m in monitors] + tests
    metrics += [m for m in extra_metrics if m not in monitors and m not in metrics]
    keys = differing_keys(runs)
    keys = [k for k in first_keys if k in keys] + [k for k in keys if k not in first_keys]
    rows = []
    for run in runs:
        row = {"run": run.name, "status": run.status, "duration_s": run.duration}
        row.update({f"{m} (best)": v for m, v in run.best.items()})
        row.update(run.test)
        row.update({m: (run.record or {}).get("value") for m in extra_metrics if m not in row})
        row.update({k: run.config.get(k) for k in keys})
        row["run_dir"] = str(run.run_dir) if run.run_dir else ""
        rows.append(row)
    if sort is not None and sort not in metrics and f"{sort} (best)" in metrics:
        sort = f"{sort} (best)"
    sort = sort or (metrics[0] if metrics else None)
    descending = _best_is_high(sort, runs) if ascending is None else not ascending
    if sort is not None:
        rows = _sorted(rows, sort, descending)
    groups = _groups(rows, keys, metrics)
    if sort is not None:
        groups = _sorted(groups, f"{sort} mean", descending)
    return Table(rows=rows, metrics=metrics, keys=keys, groups=groups, runs=runs)


def differing_keys(runs: list[RunInfo]) -> list[str]:
    """Config keys whose value is not the same in every run, in config order. A trial without a
    run directory (it failed first, or has not started) only knows its swept values: the keys
    it lacks are not differences."""
    full = [run for run in runs if run.run_dir is not None]
    keys = list(dict.fromkeys(k for run in runs for k in run.config))
    return [
        k
        for k in keys
        if len({repr(run.config.get(k)) for run in full}) > 1
        or len({repr(run.config[k]) for run in runs if k in run.config}) > 1
    ]


def _groups(rows: list[dict], keys: list[str], metrics: list[str]) -> list[dict]:
    if SEED_KEY not in keys:
        return []
    keys = [k for k in keys if k != SEED_KEY]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(repr(row[k]) for k in keys), []).append(row)
    out = []
    for members in groups.values():
        done = [r for r in members if r["status"] == "finished"]
        group = {k: members[0][k] for k in keys} | {"n": len(done)}
        for m in metrics:
            values = [r[m] for r in done if r.get(m) is not None]
            group[f"{m} mean"] = statistics.fmean(values) if values else None
            group[f"{m} std"] = statistics.stdev(values) if len(values) > 1 else None
        out.append(group)
    return out


def _best_is_high(column: str | None, runs: list[RunInfo]) -> bool:
    if column is None:
        return True
    if column.endswith(" (best)"):
        modes = {run.mode for run in runs if column.removesuffix(" (best)") in run.best}
        return modes != {"min"}
    return not lower_is_better(column)


def _sorted(rows: list[dict], column: str, descending: bool) -> list[dict]:
    have = [r for r in rows if isinstance(r.get(column), int | float)]
    rest = [r for r in rows if not isinstance(r.get(column), int | float)]
    return sorted(have, key=lambda r: r[column], reverse=descending) + rest


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _mean_std(mean, std) -> str:
    if mean is None:
        return ""
    return f"{mean:.4g} ± {std:.2g}" if std is not None else f"{mean:.4g}"


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])


def _csv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    with replaced_atomically(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
