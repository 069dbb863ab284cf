"""The project's own error types.

A `ZooError` is a problem the user can fix: the command-line programs print its
message as one line (`error: ...`) and exit with `exit_code`, without a
traceback unless `--debug` is given. Anything else is a bug and keeps its
traceback.
"""


class ZooError(Exception):
    """A user-facing error with a one-line message that says what to do."""

    exit_code = 1


class UsageError(ZooError):
    """Bad command-line input: unknown recipe, unknown or ill-typed override."""

    exit_code = 2


class DataError(ZooError):
    """Data that is missing or malformed."""


class RunDirError(ZooError):
    """A run folder that is missing, incomplete, corrupt or already exists."""


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite."""
