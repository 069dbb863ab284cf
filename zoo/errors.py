"""The project's own error types.

A `ZooError` is a problem the user can fix: the command-line programs print its
message as one line (`error: ...`) and exit with `exit_code`, without a
traceback unless `--debug` is given. Anything else is a bug: one line too,
and `--debug` shows its traceback.
"""

import argparse


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


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the zoo's error form: one `error: ...` line naming the option, exit code 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def run_cli(call, debug: bool = False) -> int:
    """Run a command's body: a `ZooError` becomes `error: ...` on one line and its exit code
    (the traceback only with `--debug`, which also shows TensorFlow's start-up messages and the converters'
    logs). An int returned by `call` is the exit code; anything else means 0. A failed read or write the code
    did not foresee names its file; any other exception is a bug: one line, and how to see the traceback."""
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
    except OSError as e:
        if debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or first_line(e)} (run again with --debug for the full traceback)",
              file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - the promise: one line, never a traceback without --debug
        if debug:
            raise
        print(f"error: unexpected {type(e).__name__}: {first_line(e)} (this is a bug in zoo: run again with --debug "
              "for the full traceback and report it)", file=sys.stderr)
        return 1
