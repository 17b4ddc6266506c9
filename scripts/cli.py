"""How every `make` tool ends: with its exit code, and quietly when its reader stops early."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn


def run(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s code. A reader that stopped reading (`make logs | head`) is not
    an error of the tool's: no traceback, exit 0, as the tool had said all it was asked."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python's advice (signal docs, "Note on SIGPIPE"): stdout to devnull, so that the
        # interpreter's last flush does not fail again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
