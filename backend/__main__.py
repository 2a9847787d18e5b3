"""`python -m backend`: run the bundled order backend alone."""

import sys

from backend.server import main

if __name__ == "__main__":
    sys.exit(main())
