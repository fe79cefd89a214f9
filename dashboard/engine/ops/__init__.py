"""What the lessons do with Docker: builds and their streams, runs, the terminal, Compose, the
registry, the GPU, the labs' Makefiles, clean-up and prune, the build queue of a machine.

A wing imports itself and the wings below it only (tests/unit/test_layers.py)."""
