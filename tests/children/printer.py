"""Prints a recorded log as a server would have: its lines on stdout, one write per line.

    printer.py FILE

The bytes are written as they are in FILE (no decoding), flushed line by line, then it exits 0.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    with open(sys.argv[1], "rb") as log:
        for line in log:
            data = memoryview(line)
            while data:
                data = data[os.write(1, data) :]
    return 0


if __name__ == "__main__":
    sys.exit(main())
