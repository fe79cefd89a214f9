"""`python -m dashboard VERB`: the instructor's command line (see dashboard/cli.py)."""

import sys

from dashboard.cli import main

sys.exit(main())
