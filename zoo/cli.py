"""What every `python -m ...` entry point shares: its argument parser and the wrapper that turns errors into one
line (`error: ...`) and an exit code of 0, 1 or 2."""

import argparse
import sys

from zoo.errors import ZooError, first_line
from zoo.runtime import startup_messages


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the zoo's error form: one `error: ...` line naming the option, exit code 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def run_cli(call, debug: bool = False) -> int:
    """Run a command's body: a `ZooError` becomes `error: ...` on one line and its exit code
    (the traceback only with `--debug`, which also shows TensorFlow's start-up messages and the converters'
    logs). An int returned by `call` is the exit code; anything else means 0. A failed read or write the code
    did not foresee names its file; any other exception is a bug: one line, and how to see the traceback."""
    if debug:
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
