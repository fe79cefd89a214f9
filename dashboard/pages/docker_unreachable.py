"""Shown instead of the lessons when the Docker daemon cannot be reached: why, and how to fix it."""

from dashboard.ui import down, shell

shell.run_page(down.render, __file__)
