"""Figures cached by the data they are drawn from: a rerun that changed nothing rebuilds none.

Building a Plotly figure validates every property it sets, 10 to 20 ms a chart on the class's
2-core machines: most of a lesson page's script time on a rerun, for a figure that is the same as
last time. `cached(charts.layers_chart, report, base_count)` builds it once per distinct input
and hands every later rerun, and every other session of a classroom, the same Figure object.
Callers only read it (`st.plotly_chart` copies it with `to_dict`); never update a cached figure
in place. The inputs are keyed by a digest of their pickle (a few microseconds for a layer
report; Streamlit's own hasher walks every field in Python and cost as much as the figure saved).
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from typing import Any

import streamlit as st

# A page draws a handful of charts; a classroom's students see the same images most of the time.
MAX_FIGURES = 256


@st.cache_resource(max_entries=MAX_FIGURES, show_spinner=False)
def _built(_build: Callable[..., Any], _args: tuple, _kwargs: dict, name: str, digest: str) -> Any:
    return _build(*_args, **_kwargs)


def digest(args: tuple, kwargs: dict) -> str | None:
    """The inputs' key, or None when they cannot be pickled (then the figure is not cached)."""
    try:
        data = pickle.dumps((args, sorted(kwargs.items())), protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def cached(build: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`build(*args, **kwargs)`, built once for the same arguments (the function by its name)."""
    key = digest(args, kwargs)
    if key is None:
        return build(*args, **kwargs)
    return _built(build, args, kwargs, f"{build.__module__}.{build.__qualname__}", key)
