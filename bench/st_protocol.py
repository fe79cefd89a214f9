"""What a browser tab knows of a Streamlit 1.67 app, kept from the server's ForwardMsgs.

No network here (bench/st_client.py has the connection): `Tab.apply(msg)` folds one ForwardMsg
into the tab's state and `Tab.rerun(...)` makes the BackMsg a browser would send next.

- Elements: every `delta.new_element` by its delta path. As in the browser, a full run's
  elements replace the old ones path by path and the ones it did not draw go when it finished
  (until then the old page stays, and its buttons can be pressed); a fragment run redraws only
  its own paths. Widgets (any element with an `id` and a `label`:
  buttons, text inputs, ...) are found by label or by the key their id ends with
  (`$$ID-<hash>-<key>`); `texts()` is every string an element carries (markdown, code, alerts).
- Problems: an `exception` element, an error alert, the error boundary's sentence, a compile
  error; each a string, in order.
- Navigation: `navigation.app_pages` (url path -> page hash); the query string the page set
  (`page_info_changed`), which a browser keeps in its URL and sends with every later run.
- Auto-reruns: `auto_rerun` arms a fragment's timer (interval, fragment id) as the browser's
  setInterval does; a full run's `new_session` clears every timer, `stop_auto_rerun` some.
- The message cache: a `cacheable` message is kept by hash, its hash listed in every later
  ClientState (as the browser does), and a `ref_hash` message is resolved from it.
- Runs: `new_session` and `script_finished` carry the run's id and fragment ids; `runs` counts
  the runs this tab saw start, full and fragment apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

FINISHED = {
    ForwardMsg.FINISHED_SUCCESSFULLY: "finished",
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR: "compile error",
    ForwardMsg.FINISHED_EARLY_FOR_RERUN: "early for rerun",
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY: "fragment finished",
}
# An alert's format (Alert.Format): ERROR = 1.
ALERT_ERROR = 1
MAX_CACHED = 2000  # cached messages kept at most (the oldest go first)


@dataclass(frozen=True)
class Widget:
    kind: str  # the element's type: "button", "text_input", ...
    id: str
    label: str
    form_id: str = ""
    disabled: bool = False

    @property
    def key(self) -> str:
        """The user key at the end of the id (`$$ID-<hash>-<key>`); "None" without one."""
        parts = self.id.split("-", 2)
        return parts[2] if len(parts) == 3 else ""


@dataclass(frozen=True)
class Finished:
    """One script_finished: its status, and whether the run was a fragment's."""

    status: str
    fragment: bool
    run_id: str


@dataclass
class Tab:
    """One browser tab's view of the app (see the module docstring)."""

    query_string: str = ""
    session_id: str = ""
    elements: dict[tuple[int, ...], object] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)  # url path -> page script hash
    page_hash: str = ""
    timers: dict[str, float] = field(default_factory=dict)  # fragment id -> interval (s)
    cache: dict[str, ForwardMsg] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    runs: dict[str, int] = field(default_factory=lambda: {"full": 0, "fragment": 0})
    received_bytes: int = 0
    unresolved_refs: int = 0
    problem_markers: tuple[str, ...] = ()  # page sentences that count as problems
    drawn: set = field(default_factory=set)  # paths the current full run has drawn

    # ------------------------------------------------------------ server -> tab

    def apply_bytes(self, data: bytes) -> tuple[ForwardMsg, Finished | None, bool]:
        msg = ForwardMsg()
        msg.ParseFromString(data)
        self.received_bytes += len(data)
        return (msg, *self.apply(msg))

    def apply(self, msg: ForwardMsg) -> tuple[Finished | None, bool]:
        """Fold `msg` in. Returns (the script_finished it was, if any; whether it began a run)."""
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            cached = self.cache.get(msg.ref_hash)
            if cached is None:
                self.unresolved_refs += 1
                self.problems.append(f"unresolved ref_hash {msg.ref_hash}")
                return None, False
            resolved = ForwardMsg()
            resolved.CopyFrom(cached)
            resolved.metadata.CopyFrom(msg.metadata)
            msg, kind = resolved, resolved.WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash:
            self.cache[msg.hash] = msg
            while len(self.cache) > MAX_CACHED:
                self.cache.pop(next(iter(self.cache)))
        if kind == "new_session":
            fragment = bool(msg.metadata.run.fragment_ids)
            self.runs["fragment" if fragment else "full"] += 1
            if msg.new_session.HasField("initialize"):
                self.session_id = msg.new_session.initialize.session_id or self.session_id
            if not fragment:
                self.drawn = set()
                self.timers.clear()
                self.page_hash = msg.new_session.page_script_hash
            return None, True
        if kind == "delta":
            self._delta(msg)
        elif kind == "script_finished":
            status = FINISHED.get(msg.script_finished, str(msg.script_finished))
            if status == "compile error":
                self.problems.append("script compile error")
            if status == "finished":  # what the finished full run did not draw goes
                self.elements = {p: e for p, e in self.elements.items() if p in self.drawn}
            return (
                Finished(
                    status, bool(msg.metadata.run.fragment_ids), msg.metadata.run.script_run_id
                ),
                False,
            )
        elif kind == "auto_rerun":
            self.timers[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                self.timers.pop(fid, None)
        elif kind == "navigation":
            self.pages = {
                p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages
            } or self.pages
            self.page_hash = msg.navigation.page_script_hash or self.page_hash
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "session_event" and msg.session_event.HasField("script_compilation_exception"):
            self.problems.append(
                "compile exception: " + msg.session_event.script_compilation_exception.message
            )
        return None, False

    def _delta(self, msg: ForwardMsg) -> None:
        path = tuple(msg.metadata.delta_path)
        delta = msg.delta
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        self.elements[path] = element
        self.drawn.add(path)
        which = element.WhichOneof("type")
        if which == "exception":
            e = element.exception
            self.problems.append(f"exception: {e.type} {e.message}"[:300])
        elif which == "alert" and element.alert.format == ALERT_ERROR:
            self.problems.append(f"error box: {element.alert.body}"[:300])
        else:
            for marker in self.problem_markers:
                if any(marker in t for t in strings(element)):
                    self.problems.append(f"page says: {marker}")

    # ------------------------------------------------------------ reading the page

    def widgets(self) -> list[Widget]:
        found = []
        for path in sorted(self.elements):
            element = self.elements[path]
            which = element.WhichOneof("type")
            if which is None:
                continue
            body = getattr(element, which)
            ident, label = getattr(body, "id", None), getattr(body, "label", None)
            if isinstance(ident, str) and ident and isinstance(label, str):
                found.append(
                    Widget(
                        which,
                        ident,
                        label,
                        getattr(body, "form_id", "") or "",
                        bool(getattr(body, "disabled", False)),
                    )
                )
        return found

    def widget(self, label: str | None = None, key: str | None = None, kind: str | None = None):
        """The first widget with this label (and/or key, kind), or None."""
        for w in self.widgets():
            if label is not None and w.label != label:
                continue
            if key is not None and w.key != key:
                continue
            if kind is not None and w.kind != kind:
                continue
            return w
        return None

    def texts(self) -> list[str]:
        return [t for path in sorted(self.elements) for t in strings(self.elements[path])]

    def shows(self, text: str) -> bool:
        return any(text in t for t in self.texts())

    def headings(self) -> list[str]:
        return [
            e.heading.body
            for _, e in sorted(self.elements.items())
            if e.WhichOneof("type") == "heading"
        ]

    # ------------------------------------------------------------ tab -> server

    def rerun(
        self,
        widgets: dict[str, object] | None = None,
        *,
        trigger: str | None = None,
        page: str | None = None,
        fragment_id: str = "",
        auto: bool = False,
        url: str = "",
    ) -> bytes:
        """A `rerun_script` BackMsg: the widget values (id -> str/bool/int/float), a button's
        trigger, the page (a url path: by its hash once navigation is known, else by name),
        or a fragment's run (`auto`: the run_every timer's)."""
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query_string
        if page is not None:
            known = self.pages.get(page)
            if known:
                cs.page_script_hash = known
            else:
                cs.page_name = page
        else:
            cs.page_script_hash = self.page_hash
        if fragment_id:
            cs.fragment_id = fragment_id
            cs.is_auto_rerun = auto
        for ident, value in (widgets or {}).items():
            ws = cs.widget_states.widgets.add()
            ws.id = ident
            if isinstance(value, bool):
                ws.bool_value = value
            elif isinstance(value, int):
                ws.int_value = value
            elif isinstance(value, float):
                ws.double_value = value
            else:
                ws.string_value = str(value)
        if trigger:
            ws = cs.widget_states.widgets.add()
            ws.id = trigger
            ws.trigger_value = True
        cs.cached_message_hashes.extend(self.cache)
        ctx = cs.context_info
        ctx.timezone, ctx.timezone_offset, ctx.locale = "UTC", 0, "en-US"
        ctx.url = url
        return msg.SerializeToString()


def strings(message) -> list[str]:
    """Every non-empty string field in a protobuf message, nested ones included."""
    out = []
    for descriptor, value in message.ListFields():
        if descriptor.type == descriptor.TYPE_STRING:
            out.extend([value] if isinstance(value, str) else [v for v in value if v])
        elif descriptor.type == descriptor.TYPE_MESSAGE:
            for v in [value] if hasattr(value, "ListFields") else value:
                if hasattr(v, "ListFields"):
                    out.extend(strings(v))
    return out
