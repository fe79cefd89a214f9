"""Benchmarks of the dashboard's engine against the plain Docker CLI, and of the lessons' claims.

`python -m bench` (from the repository root, with the daemon up and `python -m dashboard prepare
--no-build` done) measures side by side in one run and writes bench/RESULTS.md and
bench/results.json. Goals are ratios measured in the same run, never absolute timings asserted
in tests. `python -m bench --quick` is a smoke run with fewer repeats (written to bench/out/).
"""
