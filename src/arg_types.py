"""Argument types beyond jsonargparse's own, so the CLI refuses such values while parsing."""

from jsonargparse.typing import restricted_number_type

#: [0, 1): a dropout probability or label smoothing of 1 leaves nothing to learn.
HalfOpenUnitInterval = restricted_number_type("HalfOpenUnitInterval", float, [(">=", 0), ("<", 1)])
