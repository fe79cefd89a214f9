"""The lesson catalog: lessons, their labs, the base image they build on, and what a lab's program
prints.

A wing imports itself and the wings below it only (tests/unit/test_layers.py)."""
