"""`python -m bench`: run every measurement and write bench/RESULTS.md and bench/results.json."""

import sys

from bench.run import main

sys.exit(main())
