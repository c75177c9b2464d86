"""``python -m exotel_trunking.emulator``: serve the emulator on 127.0.0.1 until stopped."""

from __future__ import annotations

import sys

from ._command import main

if __name__ == "__main__":
    sys.exit(main())
