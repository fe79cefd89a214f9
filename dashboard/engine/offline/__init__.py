"""Offline mode: the stand-in base image and the wheelhouse that pip installs from. Never imports
`analysis`.

A wing imports itself and the wings below it only (tests/unit/test_layers.py)."""
