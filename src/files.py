"""Files the project rewrites in place, and reads back without trusting them.

Writes replace a file in one step: written to a temporary name beside it, then `os.replace`d,
so readers (another rank, a `compare` while a run writes, a resume after a kill) see the old
file or the new one, never half of one. Every file rewritten in place goes through here: status
and trial records, summaries, tables and plots, decode caches, the launch files ranks share,
and checkpoints (`AtomicCheckpointIO`). Reads of YAML records (`read_mapping`) tell a missing
file from one damaged by hand (not text, not YAML, not a mapping), so each reader can say so
in one line instead of failing with a traceback.
"""

import contextlib
import csv
import os
import threading
from pathlib import Path

import yaml


@contextlib.contextmanager
def replaced_atomically(path: str | os.PathLike, fsync: bool = False):
    """Yield a temporary path beside `path` to write; once the block ends it replaces `path`.

    The temporary name is unique per process and thread, so two writers of the same file never
    share one. With `fsync` the bytes reach the disk before the name points at them (what a
    checkpoint needs to survive a power cut, not only a kill). If the block raises, `path` is
    left as it was and the temporary file is removed.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomically(path: str | os.PathLike, data: str | bytes) -> None:
    """Replace `path` with `data` (text as UTF-8) in one step."""
    with replaced_atomically(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")


SUMMARY_SECTIONS = ("best", "test")  # of a run's summary.yaml: metric name -> value


class DamagedFile(ValueError):
    """A file that exists but cannot be what it should be; the message says why."""


def read_mapping(path: str | os.PathLike, sections: tuple[str, ...] = ()) -> dict | None:
    """The YAML mapping in `path`; None where there is no file; `DamagedFile` where there is
    one that is not UTF-8 text, not YAML (a key given twice included), or not a mapping (an
    empty file holds nothing), or whose `sections` (`best` and `test` of a summary) are there
    but not mappings."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise DamagedFile(f"{path} is not text") from None
    except OSError as error:
        raise DamagedFile(f"{path} cannot be read ({error.strerror})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeys)  # a SafeLoader
    except _RepeatedKey as error:
        raise DamagedFile(f"{path} gives {error} (YAML would keep the last)") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise DamagedFile(f"{path} is not valid YAML{where} ({problem})") from None
    if not isinstance(data, dict):
        what = {type(None): "nothing (it is empty)", list: "a list", str: "a string"}
        raise DamagedFile(f"{path} holds {what.get(type(data), 'a number')}, not `key: value` "
                          "lines")  # fmt: skip
    for key in sections:
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise DamagedFile(f"{path} has {key}: {data[key]!r}, not `name: value` lines")
    return data


def read_table(path: str | os.PathLike, number_column: str) -> tuple[list[dict], str | None]:
    """The rows of a CSV table the project appends to (a run's `metrics.csv`; none where it is
    missing or unreadable), and why it is damaged, or None for a sound or missing one: not UTF-8
    text, no `number_column`, a row with more or fewer fields than the header, or a row whose
    `number_column` is no whole number."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows, header = list(reader), reader.fieldnames or []
    except FileNotFoundError:
        return [], None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return [], f"{path} is not a CSV file ({type(error).__name__})"
    if header and number_column not in header:
        return rows, f"{path} has no `{number_column}` column"
    for line, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            more = "more" if None in row else "fewer"
            return rows, f"{path} line {line} has {more} fields than its header"
        if row[number_column] and not row[number_column].isdigit():
            return rows, f"{path} line {line} has {number_column} {row[number_column]!r}, no number"
    return rows, None


class _RepeatedKey(ValueError):
    pass


class _UniqueKeys(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error: plain
    YAML keeps the last one silently, so a setting written twice would vanish unseen."""

    def construct_mapping(self, node, deep=False):
        lines: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, str | int | float | bool) and key in lines:
                raise _RepeatedKey(f"the key {key!r} twice, on lines {lines[key]} and {line}")
            lines[key] = line
        return super().construct_mapping(node, deep)


def set_aside(path: str | os.PathLike) -> Path:
    """Rename a damaged file out of the way (`metrics.damaged.csv`, then `.damaged-2`...), so
    what it held is kept while a new one is written in its place; returns the new name."""
    path = Path(path)
    for n in range(1, 1000):
        mark = "damaged" if n == 1 else f"damaged-{n}"
        target = path.with_name(f"{path.stem}.{mark}{path.suffix}")
        if not target.exists():
            os.replace(path, target)
            return target
    raise DamagedFile(f"{path}: too many damaged copies beside it; remove them")
