"""`python -m gateway` is the `walletgate` command."""

import sys

from gateway.cli.main import main

sys.exit(main())
