"""The pure parts of runs.py, on output and inspect data recorded from this machine's daemon.

Recordings: tests/recordings/runs/ (re-record with `python tests/recordings/runs/record.py`).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest

from dashboard.engine.base import docker_text, labels
from dashboard.engine.ops import runs

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings" / "runs"


def load(name: str):
    return json.loads((RECORDINGS / name).read_text())


def iris_bytes() -> bytes:
    return b"".join(base64.b64decode(c) for c in load("iris-attach-chunks.json"))


def split_all(chunks) -> list[str]:
    splitter = docker_text.LineSplitter()
    out = []
    for chunk in chunks:
        out += splitter.feed(chunk)
    return out + splitter.flush()


# ------------------------------------------------------------------ line splitting


def test_recorded_attach_chunks_give_the_recorded_lines():
    chunks = [base64.b64decode(c) for c in load("iris-attach-chunks.json")]
    assert len(chunks) == 3  # the stream really is chunked, not one line per chunk
    expected = (RECORDINGS / "iris.txt").read_text().splitlines()
    assert split_all(chunks) == expected


@pytest.mark.parametrize("size", [1, 2, 7, 64])
def test_any_chunking_gives_the_same_lines(size):
    data = iris_bytes()
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    assert split_all(chunks) == (RECORDINGS / "iris.txt").read_text().splitlines()


def test_utf8_character_split_across_chunks():
    data = "Café ✓\n".encode()
    cut = data.index("✓".encode()) + 1  # inside the three bytes of the check mark
    assert split_all([data[:cut], data[cut:]]) == ["Café ✓"]


def test_last_line_without_newline_comes_out_on_flush():
    splitter = docker_text.LineSplitter()
    assert splitter.feed(b"first\nsec") == ["first"]
    assert splitter.feed(b"ond") == []
    assert splitter.flush() == ["second"]
    assert splitter.flush() == []


def test_crlf_ansi_and_progress_bars_are_cleaned():
    chunks = [b"\x1b[31mred\x1b[0m\r\n", b" 10%\r 50%\r100%\n", b"\x1b]0;title\x07ok\n"]
    assert split_all(chunks) == ["red", "100%", "ok"]


def test_blank_lines_are_kept():
    assert split_all([b"a\n\n\nb\n"]) == ["a", "", "", "b"]


def test_an_endless_line_is_cut_not_hoarded():
    splitter = docker_text.LineSplitter(max_chars=10)
    out = splitter.feed(b"x" * 25)
    assert out == ["x" * 10, "x" * 10]
    assert splitter.flush() == ["x" * 5]


def test_clean_line():
    assert docker_text.clean_line("\x1b[1;32m+ ok\x1b[0m") == "+ ok"
    assert docker_text.clean_line("a\x08b\tc") == "ab\tc"


# ------------------------------------------------------------------ exit status


def test_classify_recorded_states():
    states = load("states.json")
    assert runs.classify_exit(states["exited_0"]["ExitCode"], False, False, False) == "exited"
    s = states["exited_3"]
    assert runs.classify_exit(s["ExitCode"], s["OOMKilled"], False, False) == "exited"
    s = states["timed_out"]  # stopped by the runner: 137 after SIGTERM was ignored
    assert (s["ExitCode"], s["OOMKilled"]) == (137, False)
    assert runs.classify_exit(s["ExitCode"], s["OOMKilled"], True, False) == "timed_out"
    # The same state without our deadline is a kill by someone else.
    assert runs.classify_exit(s["ExitCode"], s["OOMKilled"], False, False) == "killed"
    s = states["oom_killed"]
    assert (s["ExitCode"], s["OOMKilled"]) == (137, True)
    assert runs.classify_exit(s["ExitCode"], s["OOMKilled"], False, False) == "oom_killed"


def test_deadline_and_cancel_win_over_the_exit_code():
    assert runs.classify_exit(0, False, True, False) == "timed_out"
    assert runs.classify_exit(137, False, False, True) == "stopped"


def test_docker_times_with_nanoseconds_and_the_zero_time():
    states = load("states.json")
    started = runs.parse_docker_time(states["timed_out"]["StartedAt"])
    finished = runs.parse_docker_time(states["timed_out"]["FinishedAt"])
    assert started.tzinfo is not None
    assert 1.0 <= (finished - started).total_seconds() < 5  # timeout 1 s, grace 1 s
    assert runs.parse_docker_time("2026-11-28T14:13:12.48603153Z") == datetime(
        2026, 11, 28, 14, 13, 12, 486031, tzinfo=UTC
    )
    assert runs.parse_docker_time("0001-01-01T00:00:00Z") is None
    assert runs.parse_docker_time("") is None
    assert runs.parse_docker_time("not a time") is None


def test_recorded_finish_before_start_exists():
    # The daemon's clocks can put FinishedAt a hair before StartedAt for an instant exit;
    # run_container clamps the duration at 0.
    s = load("states.json")["exited_3"]
    started, finished = (runs.parse_docker_time(s[k]) for k in ("StartedAt", "FinishedAt"))
    assert abs((finished - started).total_seconds()) < 1


# ------------------------------------------------------------------ records


def test_record_of_a_running_detached_container():
    attrs = load("inspect.json")["running"]
    record = runs._record(attrs)
    assert record.name.startswith("record-runs-detached-")
    assert record.status == "running" and record.running
    assert record.exit_code is None
    assert record.image == "iris-model:1.0"
    assert record.command == ("/bin/bash",)
    assert record.lab == "iris"
    assert record.session == "record-runs"
    assert record.created.year >= 2024
    assert labels.container_is_ours(record.labels)


def test_record_of_an_exited_container():
    record = runs._record(load("inspect.json")["exited"])
    assert (record.status, record.exit_code) == ("exited", 3)
    assert record.command == ("sh", "-c", "exit 3")


def test_lab_image_labels_alone_do_not_make_a_container_ours():
    # A container inherits its image's labels: a student's own `docker run iris-model:1.0`
    # carries managed=true and lab=iris but no session.
    image_labels = labels.for_image("iris")
    assert labels.is_ours(image_labels)
    assert not labels.container_is_ours(image_labels)
    assert labels.container_is_ours(labels.for_lab("iris"))
    assert not labels.container_is_ours(None)
    assert not labels.container_is_ours({labels.SESSION: "x"})


# ------------------------------------------------------------------ CLI equivalents


def test_run_commands_match_the_lecture():
    assert runs.docker_run_command("iris-model:1.0") == "docker run iris-model:1.0"
    assert (
        runs.docker_run_command("iris-model:1.0", name="test1")
        == "docker run --name test1 iris-model:1.0"
    )
    assert (
        runs.docker_run_command(
            "iris-model:1.0",
            name="iris-shell",
            command="/bin/bash",
            detach=True,
            interactive=True,
            tty=True,
        )
        == "docker run -d -it --name iris-shell iris-model:1.0 /bin/bash"
    )


def test_run_command_options_and_quoting():
    cmd = runs.docker_run_command(
        "python:3.11-slim",
        command=["python", "-c", "print('hi there')"],
        remove=True,
        mem_limit="64m",
        environment={"POLL_SECONDS": "1"},
        device_requests=[docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])],
    )
    assert cmd == (
        "docker run --rm --memory 64m -e POLL_SECONDS=1 --gpus all python:3.11-slim "
        "python -c 'print('\"'\"'hi there'\"'\"')'"
    )
    gpu = docker.types.DeviceRequest(device_ids=["0", "1"], capabilities=[["gpu"]])
    assert "--gpus device=0,1" in runs.docker_run_command("x", device_requests=[gpu])
    full = runs.docker_run_command(
        "x", labels={"a": "b"}, log_opts=runs.LOG_CONFIG["config"], environment=["A=1"]
    )
    assert full == "docker run -e A=1 --label a=b --log-opt max-size=1m --log-opt max-file=2 x"


def test_other_commands():
    assert runs.docker_exec_command("c1", "python main.py") == "docker exec c1 python main.py"
    assert runs.docker_stop_command("c1") == "docker stop c1"
    assert runs.docker_stop_command("c1", 10) == "docker stop c1"
    assert runs.docker_stop_command("c1", 2) == "docker stop -t 2 c1"
    assert runs.docker_rm_command("c1") == "docker rm c1"
    assert runs.docker_rm_command("c1", force=True) == "docker rm -f c1"
    assert runs.docker_ps_command("iris") == (
        "docker ps -a --filter label=io.dockerml.dashboard.managed=true "
        "--filter label=io.dockerml.dashboard.lab=iris"
    )


# ------------------------------------------------------------------ smaller rules


def test_deadline_comes_from_the_lab_catalog():
    assert runs.run_timeout_for("wine", None) == 300
    assert runs.run_timeout_for("iris", None) == 120
    assert runs.run_timeout_for("not-a-lab", None) == runs.DEFAULT_TIMEOUT
    assert runs.run_timeout_for("wine", 3) == 3


def test_gpu_start_error_gets_a_hint():
    recorded = load("gpu-start-error.json")
    assert recorded["status_code"] == 500
    hint = runs._start_hint(recorded["explanation"])
    assert "no GPU runtime" in hint
    assert runs._start_hint("some other failure") == ""
    assert hint.strip() in recorded["message"]
