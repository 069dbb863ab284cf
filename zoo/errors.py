"""The project's own error types.

A `ZooError` is a problem the user can fix: the command-line programs print its
message as one line (`error: ...`) and exit with `exit_code`, without a
traceback unless `--debug` is given (`zoo.cli.run_cli`). Anything else is a
bug: one line too, and `--debug` shows its traceback. A leaf module: it imports
nothing of the zoo.
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


class WorkerLost(ZooError):
    """A multi-worker run lost one of its processes; the run folder keeps the last finished epoch."""


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message cut to its first line (TensorFlow's and the converters' run to pages)."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__
