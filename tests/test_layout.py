"""The layout README describes, kept true: the research core (nets, optim, data, models) never
imports the run machinery or the tools, the machinery never imports the tools, and nothing in
src/ imports the tests. Checked on every import statement, function-level ones included."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

# Lowest first: a package may import its own layer and the layers before it, nothing after.
LAYERS = [
    ("foundation", ["src.errors", "src.files", "src.arg_types", "src.checkpoints"]),
    ("nets and schedules", ["src.nets", "src.optim"]),
    ("data", ["src.data"]),
    ("models", ["src.models"]),
    ("figures, plugins, loggers", ["src.plots", "src.plugins", "src.loggers"]),
    ("callbacks", ["src.callbacks"]),
    ("run lifecycle", ["src.runs"]),
    ("command line", ["src.cli", "src.__main__"]),
    ("tools", ["src.experiments", "src.sweep", "src.compare", "src.export", "src.load_run"]),
]
# Neighbours in the research core that must not know each other: a model works with any
# datamodule, a datamodule with any model.
APART = [("src.models", "src.data"), ("src.data", "src.models")]


def _layer(module: str) -> int:
    for index, (_, packages) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in packages):
            return index
    raise AssertionError(f"{module} is in no layer of tests/test_layout.py: add it")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_every_module_imports_only_its_own_layer_and_lower():
    modules = _modules()
    upward = []
    for name, path in sorted(modules.items()):
        if name == "src":
            continue
        for imported in _imports(path):
            assert not imported.startswith("tests"), f"{name} imports the tests: {imported}"
            if not imported.startswith("src.") or imported not in modules:
                continue  # third-party, or `from src.x import name` (its module is checked)
            if _layer(imported) > _layer(name) or any(
                name.startswith(a) and imported.startswith(b) for a, b in APART
            ):
                upward.append(f"{name} -> {imported}")
    assert not upward, "imports against the layout:\n" + "\n".join(upward)


def test_no_two_modules_share_a_name():
    """`compare.py` beside `experiments/compare.py` is two homes for one job."""
    stems: dict[str, list[str]] = {}
    for name in _modules():
        stem = name.rsplit(".", 1)[-1]
        if stem not in ("src", "__main__"):
            stems.setdefault(stem, []).append(name)
    shared = {stem: names for stem, names in stems.items() if len(names) > 1}
    assert not shared, shared
