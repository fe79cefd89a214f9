"""What a student did and where they are: the history of builds and runs, the guided checks, the
instructor's roster.

A wing imports itself and the wings below it only (tests/unit/test_layers.py)."""
