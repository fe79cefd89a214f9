"""Compose logic on recorded output: version parsing, finding the CLI, log lines, the timeline,
the override file and the command strings.

Recordings (tests/recordings/compose/) come from this machine's Compose v2.40 and a real run of
the wine pair with POLL_SECONDS=1 and TRAIN_DELAY_SECONDS=3.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard.engine.base import labels
from dashboard.engine.ops import compose
from dashboard.engine.ops.compose import EventKind

REC = Path(__file__).resolve().parents[1] / "recordings" / "compose"


@pytest.fixture(scope="module")
def run() -> dict:
    return json.loads((REC / "wine-run.json").read_text())


def recorded_lines(run: dict) -> list[compose.LogLine]:
    out = []
    for service, rec in run["services"].items():
        previous = None
        for raw in rec["logs_with_timestamps"]:
            line = compose.parse_log_line(service, raw, previous)
            previous = line.at
            out.append(line)
    return out


def recorded_states(run: dict) -> list[compose.ServiceState]:
    out = []
    for service, rec in run["services"].items():
        st = rec["state"]
        out.append(
            compose.ServiceState(
                service,
                "id-" + service,
                f"wine-rec-{service}-1",
                st["Status"],
                st["ExitCode"],
                compose.parse_docker_time(st["StartedAt"]),
                compose.parse_docker_time(st["FinishedAt"]),
            )
        )
    return out


# -- finding the CLI ---------------------------------------------------------------------


def test_parse_recorded_compose_version():
    text = (REC / "compose-version.txt").read_text()
    assert compose.parse_compose_version(text) == (2, "2.40.3")


def test_parse_compose_v1_and_garbage():
    assert compose.parse_compose_version("docker-compose version 1.29.2, build 5becea4c") == (
        1,
        "1.29.2",
    )
    assert compose.parse_compose_version("docker: 'compose' is not a docker command.") is None


class FakeRun:
    """Answers `... version` per argv prefix; records what was asked."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str]]):
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv, **kwargs):
        self.calls.append(list(argv))
        rc, out = self.answers.get(tuple(argv[:-1]), (1, "unknown command"))
        return subprocess.CompletedProcess(argv, rc, out, "")


V2 = (REC / "compose-version.txt").read_text()


def which_of(**paths):
    return lambda name: paths.get(name.replace("-", "_"))


def test_find_compose_prefers_the_docker_plugin():
    run = FakeRun({("/bin/docker", "compose"): (0, V2), ("/bin/docker-compose",): (0, V2)})
    cli = compose.find_compose(
        run, which_of(docker="/bin/docker", docker_compose="/bin/docker-compose")
    )
    assert cli == compose.ComposeCli(("/bin/docker", "compose"), "2.40.3")
    assert run.calls == [["/bin/docker", "compose", "version"]]


def test_find_compose_falls_back_to_a_standalone_v2_binary():
    run = FakeRun({("/bin/docker-compose",): (0, V2)})
    cli = compose.find_compose(
        run, which_of(docker="/bin/docker", docker_compose="/bin/docker-compose")
    )
    assert cli.argv == ("/bin/docker-compose",)


def test_find_compose_refuses_v1_with_the_fix():
    run = FakeRun({("/bin/docker-compose",): (0, "docker-compose version 1.29.2, build 5becea4c")})
    with pytest.raises(compose.ComposeUnavailable) as err:
        compose.find_compose(
            run, which_of(docker="/bin/docker", docker_compose="/bin/docker-compose")
        )
    assert "1.29.2" in err.value.message
    assert "docker compose version" in err.value.hint


def test_find_compose_without_docker_at_all():
    with pytest.raises(compose.ComposeUnavailable) as err:
        compose.find_compose(FakeRun({}), which_of())
    assert "PATH" in err.value.message
    assert "cli-plugins" in err.value.hint


def _fake_docker(folder: Path) -> Path:
    """A `docker` program that answers `docker compose version` as Compose v2.40.3 does."""
    folder.mkdir()
    program = folder / "docker"
    program.write_text(f"#!/bin/sh\nexec /bin/cat <<'EOF'\n{V2.strip()}\nEOF\n")
    program.chmod(0o755)
    return program


def test_the_default_cli_is_asked_again_when_path_changes_or_the_program_goes(
    tmp_path, monkeypatch
):
    # The failed CI run: a test put a docker of its own first on PATH and removed it after;
    # the dashboard kept its path, and every Compose button said "No such file or directory".
    compose._cli_of.cache_clear()
    first, second = _fake_docker(tmp_path / "a"), _fake_docker(tmp_path / "b")
    monkeypatch.setenv("PATH", str(first.parent))
    assert compose.default_cli().argv == (str(first), "compose")
    monkeypatch.setenv("PATH", f"{second.parent}:{first.parent}")
    assert compose.default_cli().argv == (str(second), "compose")
    second.unlink()
    assert compose.default_cli().argv == (str(first), "compose")
    compose._cli_of.cache_clear()


# -- log lines and the timeline ------------------------------------------------------------


def test_parse_log_line_keeps_nanosecond_timestamps_as_utc(run):
    raw = run["services"]["trainer"]["logs_with_timestamps"][-1]
    line = compose.parse_log_line("trainer", raw)
    assert line.text == "Model saved to /shared/model_pipeline.joblib"
    assert line.at == datetime(2026, 11, 28, 14, 10, 25, 101310, tzinfo=UTC)


def test_a_line_without_timestamp_takes_the_previous_one():
    before = datetime(2026, 1, 1, tzinfo=UTC)
    line = compose.parse_log_line("predictor", "rest of a very long line", before)
    assert (line.at, line.text) == (before, "rest of a very long line")


def test_zero_time_means_not_yet():
    assert compose.parse_docker_time("0001-01-01T00:00:00Z") is None
    assert compose.parse_docker_time("") is None


def test_timeline_of_the_recorded_run(run):
    timeline = compose.Timeline()
    for line in recorded_lines(run):
        timeline.observe_line(line)
    for state in recorded_states(run):
        timeline.observe_state(state)
    files = compose.parse_volume_listing(json.dumps(run["volume_listing_json"]))
    timeline.observe_files(files)

    events = timeline.events()
    assert [e.at for e in events] == sorted(e.at for e in events)
    kinds = {(e.service, e.kind): e for e in events}
    waiting = kinds[("predictor", EventKind.WAITING)]
    saved = kinds[("trainer", EventKind.MODEL_SAVED)]
    appeared = kinds[("trainer", EventKind.MODEL_FILE)]
    predictions = kinds[("predictor", EventKind.PREDICTIONS)]
    assert waiting.count == 4  # four polls at 1 s while the trainer took 3 s more
    assert predictions.count == 3
    assert waiting.at < appeared.at <= saved.at < predictions.at
    assert kinds[("trainer", EventKind.STARTED)].at < waiting.at
    assert kinds[("trainer", EventKind.EXITED)].detail == "exit code 0"
    assert kinds[("predictor", EventKind.EXITED)].at > predictions.at
    assert len(events) == 9


def test_timeline_counts_a_line_read_twice_once(run):
    timeline = compose.Timeline()
    lines = [line for line in recorded_lines(run) if line.service == "predictor"]
    for line in lines + lines:
        timeline.observe_line(line)
    assert {e.kind: e.count for e in timeline.events()}[EventKind.WAITING] == 4


def test_timeline_keeps_the_earliest_time_whatever_the_order(run):
    timeline = compose.Timeline()
    for line in reversed(recorded_lines(run)):
        timeline.observe_line(line)
    first_wait = run["services"]["predictor"]["logs_with_timestamps"][0].split(" ")[0]
    assert timeline.first("predictor", EventKind.WAITING).at == compose.parse_docker_time(
        first_wait
    )


def test_wait_result_success_needs_every_service_exited_zero(run):
    states = {s.service: s for s in recorded_states(run)}
    assert compose.WaitResult(states, False, 5.0).succeeded
    assert not compose.WaitResult(states, True, 5.0).succeeded
    failed = dict(states)
    t = states["trainer"]
    failed["trainer"] = compose.ServiceState(
        t.service, t.container_id, t.container_name, "exited", 1, t.started_at, t.finished_at
    )
    assert not compose.WaitResult(failed, False, 5.0).succeeded
    assert not compose.WaitResult({}, False, 5.0).succeeded


def test_volume_listing(run):
    files = compose.parse_volume_listing(json.dumps(run["volume_listing_json"]) + "\n")
    assert [(f.path, f.size_bytes) for f in files] == [("model_pipeline.joblib", 215482)]
    assert files[0].modified.tzinfo is UTC
    assert compose.parse_volume_listing("") == []


# -- the override file and the commands ----------------------------------------------------


def project(name: str = "wine", env=None) -> compose.ComposeProject:
    p = compose.ComposeProject(
        None,
        name,
        session="unit-session",
        env=env,
        cli=compose.ComposeCli(("/usr/bin/docker", "compose"), "2.40.3"),
    )
    p._config = json.loads((REC / "wine-config.json").read_text())
    return p


def test_services_and_volumes_come_from_the_compose_file():
    p = project()
    assert p.services == ["predictor", "trainer"]
    assert p.volume_keys() == ["shared"]


def test_override_labels_everything_and_builds_on_the_host_network_offline():
    content = project().override(offline_build=True)
    ours = labels.for_lab("wine", "unit-session")
    for service in ("trainer", "predictor"):
        entry = content["services"][service]
        assert entry["labels"] == ours
        assert entry["build"] == {"labels": labels.for_image("wine"), "network": "host"}
        assert entry["logging"]["options"]["max-size"]
    assert content["volumes"] == {"shared": {"labels": ours}}
    assert content["networks"] == {"default": {"labels": ours}}


def test_override_online_leaves_the_build_network_alone():
    content = project().override(offline_build=False)
    assert all("network" not in s["build"] for s in content["services"].values())


def test_commands_show_what_a_student_types():
    p = project()
    assert p.up_command().display == "docker compose -f labs/wine/compose.yaml up -d"
    assert (
        p.down_command().display
        == "docker compose -f labs/wine/compose.yaml down --remove-orphans -v"
    )
    argv = p.up_command().argv
    assert argv[:2] == ("/usr/bin/docker", "compose")
    assert argv[argv.index("-p") + 1] == "wine"
    files = [argv[i + 1] for i, a in enumerate(argv) if a == "-f"]
    assert files == [str(p.compose_file), str(p.override_file)]
    assert argv[-2:] == ("up", "-d")


def test_commands_of_another_project_with_environment():
    p = project("wine-class-3", env={"POLL_SECONDS": 1})
    assert p.up_command().display == (
        "POLL_SECONDS=1 docker compose -p wine-class-3 -f labs/wine/compose.yaml up -d"
    )
    assert p.build_command().display.endswith("-f labs/wine/compose.yaml --progress plain build")
    assert p.override_file.name == "wine-class-3.override.yaml"


def test_project_names_follow_compose_rules():
    with pytest.raises(ValueError):
        project("Wine Class")
