"""Entry point for `python -m research`."""

import sys

from research.cli import main

if __name__ == "__main__":  # a spawned worker process imports this file under another name
    sys.exit(main())
