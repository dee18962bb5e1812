class UsageError(ValueError):
    """A mistake the user can fix (bad value, missing files): the CLI prints it as one line."""
