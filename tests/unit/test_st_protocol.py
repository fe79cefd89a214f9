"""The Locust students' reading of Streamlit's protocol (bench/st_protocol.py, bench/st_client.py),
on ForwardMsgs made here the way Streamlit 1.67's server makes them."""

from __future__ import annotations

import time

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench.st_client import xsrf_from
from bench.st_protocol import Tab, strings


def new_session(fragments: tuple[str, ...] = (), page: str = "h-lesson1") -> ForwardMsg:
    msg = ForwardMsg()
    msg.new_session.page_script_hash = page
    msg.metadata.run.script_run_id = "run-1"
    msg.metadata.run.fragment_ids.extend(fragments)
    return msg


def element(path: tuple[int, ...]) -> ForwardMsg:
    msg = ForwardMsg()
    msg.metadata.delta_path.extend(path)
    return msg


def button(path, label: str, key: str, disabled: bool = False) -> ForwardMsg:
    msg = element(path)
    b = msg.delta.new_element.button
    b.id, b.label, b.disabled = f"$$ID-abc123-{key}", label, disabled
    return msg


def finished(status, fragments: tuple[str, ...] = ()) -> ForwardMsg:
    msg = ForwardMsg()
    msg.script_finished = status
    msg.metadata.run.script_run_id = "run-1"
    msg.metadata.run.fragment_ids.extend(fragments)
    return msg


def back(data: bytes) -> BackMsg:
    msg = BackMsg()
    msg.ParseFromString(data)
    return msg


def test_buttons_and_text_inputs_are_found_by_label_and_key():
    tab = Tab()
    tab.apply(new_session())
    tab.apply(button((0, 1), "Build iris-model:1.0", "build-iris"))
    box = element((0, 2))
    box.delta.new_element.text_input.id = "$$ID-ff00-detach-name"
    box.delta.new_element.text_input.label = "Container name"
    tab.apply(box)
    tab.apply(button((0, 3), "Run iris-model:1.0", "run-iris", disabled=True))

    assert tab.widget("Build iris-model:1.0").key == "build-iris"
    assert tab.widget(key="detach-name", kind="text_input").label == "Container name"
    assert tab.widget("Container name", kind="button") is None
    assert tab.widget(key="run-iris").disabled
    assert [w.key for w in tab.widgets()] == ["build-iris", "detach-name", "run-iris"]


def test_a_full_run_replaces_the_page_when_it_finished_and_a_fragment_run_does_not():
    tab = Tab()
    tab.apply(new_session())
    tab.apply(button((0, 1), "Ping", "ping"))
    tab.apply(button((0, 2), "Run", "run"))
    tab.apply(finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    _, began = tab.apply(new_session(fragments=("frag-1",)))
    tab.apply(finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, ("frag-1",)))
    assert began and tab.widget("Ping") is not None
    assert tab.runs == {"full": 1, "fragment": 1}
    # A full run: the old page stays (its buttons can be pressed) until the run finished ...
    tab.apply(new_session())
    tab.apply(button((0, 1), "Pong", "pong"))
    assert tab.widget("Run") is not None and tab.widget("Ping") is None
    tab.apply(finished(ForwardMsg.FINISHED_EARLY_FOR_RERUN))
    assert tab.widget("Run") is not None
    # ... then what it did not draw goes.
    tab.apply(new_session())
    tab.apply(button((0, 1), "Pong", "pong"))
    tab.apply(finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    assert [w.key for w in tab.widgets()] == ["pong"]
    assert tab.runs == {"full": 3, "fragment": 1}


def test_script_finished_says_its_status_and_whether_a_fragment_ran():
    tab = Tab()
    done, _ = tab.apply(finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    assert (done.status, done.fragment, done.run_id) == ("finished", False, "run-1")
    done, _ = tab.apply(finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, ("f",)))
    assert (done.status, done.fragment) == ("fragment finished", True)
    done, _ = tab.apply(finished(ForwardMsg.FINISHED_EARLY_FOR_RERUN))
    assert done.status == "early for rerun"
    assert tab.problems == []
    tab.apply(finished(ForwardMsg.FINISHED_WITH_COMPILE_ERROR))
    assert tab.problems == ["script compile error"]


def test_exceptions_and_error_boxes_are_problems_other_alerts_are_not():
    tab = Tab(problem_markers=("Something unexpected",))
    tab.apply(new_session())
    exc = element((0, 1))
    exc.delta.new_element.exception.type = "KeyError"
    exc.delta.new_element.exception.message = "'x'"
    tab.apply(exc)
    for path, fmt, body in (((0, 2), 1, "The build failed"), ((0, 3), 4, "Docker ran 7 steps")):
        alert = element(path)
        alert.delta.new_element.alert.format = fmt
        alert.delta.new_element.alert.body = body
        tab.apply(alert)
    md = element((0, 4))
    md.delta.new_element.markdown.body = "Something unexpected went wrong on this page"
    tab.apply(md)
    assert tab.problems == [
        "exception: KeyError 'x'",
        "error box: The build failed",
        "page says: Something unexpected",
    ]
    assert tab.shows("Docker ran 7 steps")


def test_fragment_timers_are_armed_stopped_and_cleared_by_a_full_run():
    tab = Tab()
    tab.apply(new_session())
    for fid in ("a", "b"):
        msg = ForwardMsg()
        msg.auto_rerun.interval, msg.auto_rerun.fragment_id = 0.25, fid
        tab.apply(msg)
    assert tab.timers == {"a": 0.25, "b": 0.25}
    stop = ForwardMsg()
    stop.stop_auto_rerun.fragment_ids.append("a")
    tab.apply(stop)
    assert tab.timers == {"b": 0.25}
    tab.apply(new_session(fragments=("b",)))
    assert tab.timers == {"b": 0.25}  # a fragment's own run keeps the timers
    tab.apply(new_session())
    assert tab.timers == {}


def test_reruns_carry_the_page_the_query_string_widgets_and_a_trigger():
    tab = Tab()
    nav = ForwardMsg()
    for path, page_hash in (("", "h-home"), ("lesson1", "h-lesson1"), ("sizes", "h-sizes")):
        page = nav.navigation.app_pages.add()
        page.url_pathname, page.page_script_hash = path, page_hash
    nav.navigation.page_script_hash = "h-lesson1"
    tab.apply(nav)
    info = ForwardMsg()
    info.page_info_changed.query_string = "student=ada"
    tab.apply(info)

    cs = back(tab.rerun({"w-text": "ada", "w-box": True, "w-n": 3}, trigger="w-go")).rerun_script
    assert (cs.page_script_hash, cs.query_string) == ("h-lesson1", "student=ada")
    states = {w.id: w for w in cs.widget_states.widgets}
    assert states["w-text"].string_value == "ada"
    assert states["w-box"].bool_value is True
    assert states["w-n"].int_value == 3
    assert states["w-go"].trigger_value is True
    assert not cs.fragment_id and not cs.is_auto_rerun

    assert back(tab.rerun(page="sizes")).rerun_script.page_script_hash == "h-sizes"
    unknown = back(Tab().rerun(page="lesson1")).rerun_script
    assert (unknown.page_name, unknown.page_script_hash) == ("lesson1", "")

    timer = back(tab.rerun({"w-text": "ada"}, fragment_id="frag", auto=True)).rerun_script
    assert (timer.fragment_id, timer.is_auto_rerun) == ("frag", True)
    assert [w.id for w in timer.widget_states.widgets] == ["w-text"]


def test_cached_messages_are_listed_and_references_resolved():
    tab = Tab()
    tab.apply(new_session())
    big = button((0, 5), "Follow logs", "follow-logs")
    big.hash, big.metadata.cacheable = "hash-1", True
    tab.apply(big)
    assert list(back(tab.rerun()).rerun_script.cached_message_hashes) == ["hash-1"]

    tab.apply(new_session())
    ref = ForwardMsg()
    ref.ref_hash = "hash-1"
    ref.metadata.delta_path.extend((0, 7))
    tab.apply(ref)
    tab.apply(finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    assert tab.widget("Follow logs") is not None
    assert (0, 7) in tab.elements and (0, 5) not in tab.elements

    missing = ForwardMsg()
    missing.ref_hash = "hash-unknown"
    tab.apply(missing)
    assert tab.unresolved_refs == 1 and tab.problems == ["unresolved ref_hash hash-unknown"]


def test_bytes_in_are_parsed_and_counted():
    tab = Tab()
    data = button((0, 1), "Start", "start").SerializeToString()
    msg, done, began = tab.apply_bytes(data)
    assert msg.delta.new_element.button.label == "Start" and done is None and not began
    assert tab.received_bytes == len(data)


def test_strings_reads_nested_and_repeated_fields():
    msg = element((0, 1))
    msg.delta.new_element.code.code_text = "step 3 of 10"
    assert "step 3 of 10" in strings(msg.delta.new_element)
    nav = ForwardMsg()
    for name in ("Lesson 1", "Sizes"):
        nav.navigation.app_pages.add().page_name = name
    assert {"Lesson 1", "Sizes"} <= set(strings(nav))


def test_the_xsrf_cookie_is_read_from_set_cookie_headers():
    headers = [
        "other=1; Path=/",
        "_streamlit_xsrf=2|8a1b|c0ffee|1764720000; Path=/; SameSite=Lax",
    ]
    assert xsrf_from(headers) == "2|8a1b|c0ffee|1764720000"
    assert xsrf_from(["other=1"]) is None


class FakeSocket:
    """Plays the server's answer to one ask: (delay, kind, fragment run?, status) each."""

    def __init__(self, client, answer):
        self.client, self.answer = client, answer

    def send(self, data, opcode=None):
        from bench.st_protocol import Finished

        with self.client.cond:
            for kind, fragment, status in self.answer:
                detail = fragment if kind == "start" else Finished(status, fragment, "r")
                self.client.events.append((time.monotonic(), kind, detail))
            self.client.cond.notify_all()


def _asked(answer, before=()):
    from bench.st_client import Client

    client = Client("http://127.0.0.1:1")
    client.events.extend((0.0, kind, detail) for kind, detail in before)
    client.ws = FakeSocket(client, answer)
    client.run(trigger="$$ID-x-go", timeout=2)
    return client


def test_a_run_ends_at_the_first_finish_after_a_full_run_started_that_is_not_early():
    from bench.st_client import Timeout

    # st.rerun() in the script: early for rerun, then the full run again
    _asked(
        [
            ("start", False, None),
            ("finish", False, "early for rerun"),
            ("start", False, None),
            ("finish", False, "finished"),
        ]
    )
    # a fragment run the server merged behind the full run ends it (the browser is notRunning)
    _asked(
        [
            ("start", False, None),
            ("finish", False, "early for rerun"),
            ("start", True, None),
            ("finish", True, "fragment finished"),
        ]
    )
    # a fragment run that finishes before the asked full run even started does not count
    with pytest.raises(Timeout):
        _asked([("start", True, None), ("finish", True, "fragment finished")])
    # nor does anything from before the ask
    with pytest.raises(Timeout):
        _asked([], before=[("start", False), ("finish", None)])
