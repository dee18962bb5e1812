"""The mistakes a user can fix, and how each command shows them: one `error:` line, exit 2.

Imports nothing heavy (Lightning only inside `one_line_error`): the sweep and compare processes,
which never train, use it too.
"""

import re
import warnings
from argparse import ArgumentError
from pathlib import Path


class UsageError(ValueError):
    """A mistake the user can fix (bad value, missing files): the CLI prints it as one line."""


class SweepError(UsageError):
    """A mistake in a sweep's definition or options, or in what `compare` is given."""


# Lightning errors that are the user's configuration, not a bug: shown as their first line.
_LIGHTNING_USAGE_ERRORS = (
    "Early stopping conditioned on metric",
    "could not find the monitored key",
    # `--trainer.val_check_interval N` with N above the batches of an epoch
    "must be less than or equal to the number of the training batches",
)
_HELP = "see `python -m src fit --help` for what is accepted"


def one_line_error(error: BaseException | None) -> str | None:
    """The one line to print for a mistake the user made, or None for a bug (show the traceback).

    Looks through wrapped errors too: jsonargparse and Lightning re-raise what the code raised.
    """
    # Imported here: tools that only read run directories (src.compare) never import Lightning.
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, UsageError):
            return str(error)
        if isinstance(error, ArgumentError):
            return condense_parser_error(str(error))
        text = str(error).strip()
        if isinstance(error, MisconfigurationException) or any(
            marker in text for marker in _LIGHTNING_USAGE_ERRORS
        ):
            return text.splitlines()[0] if text else type(error).__name__
        error = error.__cause__ or error.__context__
    return None


def condense_parser_error(message: str) -> str:
    """jsonargparse's multi-line error -> `key: reason (given: value); see --help`.

    The nested report lists every type a value could have had; the key path and the innermost
    reason are what the user needs.
    """
    keys = re.findall(r'Parser key "([^"]+)"', message)
    key = ".".join(k for k in keys if k)
    reasons = []
    for raw in message.splitlines():
        line = raw.strip().lstrip("- ").strip()
        line = re.sub(r'^Parser key "[^"]+":\s*', "", line)
        if not line or line.startswith(_BOILERPLATE) or "NoneType" in line:
            continue
        reasons.append(line)
    given = re.findall(r"Given value: (.*)", message)
    reason = reasons[-1] if reasons else "invalid value"
    groups = re.findall(r"Expected a typing\.Literal\[(.*?)\]", message)
    if len(groups) > 1:  # a Union of choices (Lightning's precision): all of them, not the last
        choices = dict.fromkeys(c.strip("'") for group in groups for c in group.split(", "))
        reason = f"not one of {', '.join(choices)}"
    text = f"{key}: {reason}" if key else reason
    if given and given[-1] not in text and "NestedArg" not in given[-1]:
        text += f" (given: {given[-1]})"
    return f"{text}; {_HELP}"


_BOILERPLATE = (
    "Does not validate against any of the Union subtypes",
    "Subtypes:",
    "Errors:",
    "Given value",
    "Problem with given class_path",
)


_SOURCE = str(Path(__file__).parent)
_python_warning = warnings.formatwarning


def show_warnings_in_one_line() -> None:
    """The project's own warnings as one `warning: ...` line each; others as Python shows them.
    Called by each command's `main`."""
    warnings.formatwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    if str(filename).startswith(_SOURCE):
        return f"warning: {message}\n"
    return _python_warning(message, category, filename, lineno, line)
