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


class WorkerLost(ZooError):
    """A multi-worker run lost one of its processes; the run folder keeps the last finished epoch."""


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite."""


def run_cli(call, debug: bool = False) -> int:
    """Run a command's body: a `ZooError` becomes `error: ...` on one line and its exit code
    (the traceback only with `--debug`, which also shows TensorFlow's start-up messages). An int returned by `call` is the exit code; anything else means 0."""
    import sys

    if debug:
        from zoo.runtime import startup_messages

        held = startup_messages()
        if held:
            print("TensorFlow start-up messages (hidden without --debug):\n" + held.rstrip(), file=sys.stderr)
    try:
        code = call()
        return code if isinstance(code, int) and not isinstance(code, bool) else 0
    except ZooError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
