"""``python -m tap_marketo_bulk.sandbox``: run the sandbox from the command line."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
