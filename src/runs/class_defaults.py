"""When a config switches a class, the new class runs with its own defaults.

jsonargparse keeps, across a change of `class_path`, every init arg the new class also accepts,
the old class's defaults included: `--data CSVDataModule` would train with DigitsDataModule's
batch size 128 (CSVDataModule's own is 64), `--model.optimizer SGD` with AdamW's weight decay
0.01. Values that were set (in a config file or on the command line) still carry over, as
jsonargparse intends; the old class's defaults no longer do. `tests/test_cli.py` checks every
datamodule and optimizer switch, so a jsonargparse release that moves this hook fails there.
"""

import pydoc

from jsonargparse import Namespace
from jsonargparse import _typehints as typehints  # the hook lives here in jsonargparse 4.x

_keep_set_values = typehints.discard_init_args_on_class_path_change


def _discard_defaults_too(parser_or_action, prev_val, value) -> None:
    _keep_set_values(parser_or_action, prev_val, value)
    if not isinstance(prev_val, Namespace) or not isinstance(prev_val.get("init_args"), Namespace):
        return
    if prev_val.get("class_path") == value.get("class_path"):
        return
    previous = pydoc.locate(prev_val["class_path"])
    if previous is None:
        return
    defaults = typehints.ActionTypeHint.get_class_parser(previous).get_defaults()
    init_args = prev_val["init_args"]
    for key in list(init_args.keys(branches=True, nested=False)):
        if key in defaults and init_args[key] == defaults[key]:
            del init_args[key]


typehints.discard_init_args_on_class_path_change = _discard_defaults_too
