"""A page's elements with no logic: the floor the rerun goal measures a page against.

`Recorder` listens to a browser page's WebSocket frames (Playwright's `framereceived`) and folds
them into a `st_protocol.Tab`, which resolves the cached-message references a rerun sends
instead of unchanged elements. Armed, it keeps every message of the next full script run (from
its `new_session` to its `script_finished`; fragment runs in between are not the page's run):
the deltas (`new_element`, `add_block`, ... each with its delta path) and `page_config_changed`.
`save` writes them to a file; `bench/replica_app.py` is the generated Streamlit app that serves
each recorded file as a page whose script is `replay(file)`: it sends the recorded messages as
they are, through the script run context, the way `st.*` calls send theirs. The same element
types and counts, the same texts, widget ids and figure specs, so the browser draws the same
page, and nothing else: no session state, no Docker calls, no decisions, no widget
registration, no `st.*` argument processing (a figure's conversion to JSON, markdown's
dedenting), no fragment timers.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench.st_protocol import Tab

KEPT = ("delta", "page_config_changed")


class Recorder:
    """Everything one browser page receives, and one full run of it on demand."""

    def __init__(self) -> None:
        self.tab = Tab()
        self.armed = False
        self.inside = False
        self.recorded: list[ForwardMsg] = []
        self.done = False

    def attach(self, page) -> None:
        page.on("websocket", self._on_socket)

    def _on_socket(self, ws) -> None:
        if not ws.url.endswith("/_stcore/stream"):
            return
        self.tab = Tab()  # a new connection is a new session: the browser's cache starts empty
        ws.on("framereceived", self.feed)

    def feed(self, payload) -> None:
        if isinstance(payload, str):
            return
        msg = ForwardMsg()
        msg.ParseFromString(payload)
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":  # resolve it as the tab does, metadata (the path) from the ref
            cached = self.tab.cache.get(msg.ref_hash)
            if cached is not None:
                resolved = ForwardMsg()
                resolved.CopyFrom(cached)
                resolved.metadata.CopyFrom(msg.metadata)
                self._keep(resolved)
        else:
            self._keep(msg)
        self.tab.apply(msg)

    def _keep(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            full = not msg.metadata.run.fragment_ids
            self.inside = self.armed and full
            if self.inside:
                self.recorded = []
            return
        if kind == "script_finished":
            if self.inside and not msg.metadata.run.fragment_ids:
                self.inside, self.armed, self.done = False, False, True
            return
        if self.inside and kind in KEPT:
            self.recorded.append(msg)

    def arm(self) -> None:
        """Record the next full run (from its new_session to its script_finished)."""
        self.armed, self.inside, self.done, self.recorded = True, False, False, []


def element_counts(messages: list[ForwardMsg]) -> dict[str, int]:
    """Element types (and block types) in a recorded run, e.g. {"markdown": 40, "block": 12}."""
    counts: Counter[str] = Counter()
    for msg in messages:
        if msg.WhichOneof("type") != "delta":
            continue
        which = msg.delta.WhichOneof("type")
        if which == "new_element":
            counts[msg.delta.new_element.WhichOneof("type") or "?"] += 1
        elif which == "add_block":
            counts["block"] += 1
        else:
            counts[which or "?"] += 1
    return dict(counts)


def save(messages: list[ForwardMsg], path: Path) -> None:
    """Length-prefixed serialized ForwardMsgs (metadata and delta path kept)."""
    with path.open("wb") as out:
        for msg in messages:
            data = msg.SerializeToString()
            out.write(struct.pack(">I", len(data)) + data)


def load(path: Path) -> list[ForwardMsg]:
    data, found, at = path.read_bytes(), [], 0
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        msg = ForwardMsg()
        msg.ParseFromString(data[at + 4 : at + 4 + size])
        found.append(msg)
        at += 4 + size
    return found


def replay(path: Path) -> int:
    """Send a recorded run's messages from the running script (inside a Streamlit script run)."""
    from streamlit.runtime.scriptrunner import enqueue_message

    sent = 0
    for recorded in load(path):
        msg = ForwardMsg()
        kind = recorded.WhichOneof("type")
        if kind == "delta":
            msg.delta.CopyFrom(recorded.delta)
            msg.delta.ClearField("fragment_id")
            msg.metadata.delta_path[:] = recorded.metadata.delta_path
        else:
            getattr(msg, kind).CopyFrom(getattr(recorded, kind))
        enqueue_message(msg)
        sent += 1
    return sent
