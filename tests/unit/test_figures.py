"""figures.cached: one figure per distinct input, the same object for the same input."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import streamlit as st

from dashboard.ui import figures


@dataclass(frozen=True)
class Layer:
    index: int
    size_bytes: int


built: list[tuple] = []


def chart(layers, title="t"):
    built.append((layers, title))
    return object()  # a figure stand-in: identity is what the cache hands back


def test_the_same_data_builds_once_and_other_data_builds_anew():
    st.cache_resource.clear()
    built.clear()
    a = figures.cached(chart, (Layer(0, 10), Layer(1, 20)), title="x")
    b = figures.cached(chart, (Layer(0, 10), Layer(1, 20)), title="x")  # equal, not the same
    assert a is b and len(built) == 1
    c = figures.cached(chart, (Layer(0, 10), Layer(1, 21)), title="x")
    d = figures.cached(chart, (Layer(0, 10), Layer(1, 20)), title="y")
    assert c is not a and d is not a and len(built) == 3


def test_inputs_that_cannot_be_pickled_are_built_every_time():
    st.cache_resource.clear()
    built.clear()
    lock = threading.Lock()
    assert figures.digest((lock,), {}) is None
    figures.cached(chart, lock)
    figures.cached(chart, lock)
    assert len(built) == 2
