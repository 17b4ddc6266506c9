"""``python -m scripts.sandbox.emulator -H 127.0.0.1 -p 4566``: runs the embedded emulator (``server.main``).

The sandbox starts it by this command line and recognises its pid by it.
"""
from __future__ import annotations

import sys

from scripts.sandbox.emulator.server import main

if __name__ == "__main__":
    sys.exit(main())
