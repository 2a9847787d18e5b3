"""`python -m gateway` is the `walletgate` command."""

import sys

from gateway.cli import main

sys.exit(main())
