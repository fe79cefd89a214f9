"""The bottom of the engine: the client and its errors, API versions, labels, whom the dashboard
works for, paths, input validation, the daemon's events, Docker's text, child processes and
progress reports.

A wing imports itself and the wings below it only (tests/unit/test_layers.py)."""
