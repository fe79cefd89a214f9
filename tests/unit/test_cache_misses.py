"""Why the cache missed, worked out against the previous build's snapshot (builds.explain_misses).

Neither builder says why a step ran again. Steps here are what the BuildKit parser makes of the
recorded iris rebuilds; the snapshots are what build_context keeps after a successful build.
"""

from __future__ import annotations

from pathlib import Path

from dashboard.engine.ops import build_context, builds
from dashboard.engine.ops.build_stream import BuildStep
from dashboard.engine.ops.buildkit_stream import BuildKitStreamParser

RECORDINGS = Path(__file__).parents[1] / "recordings" / "builds" / "buildkit"
IRIS = Path(__file__).parents[2] / "labs" / "iris"
DOCKERFILE = (IRIS / "Dockerfile").read_text()
FILES = {"Dockerfile": "d0", "main.py": "m1", "requirements.txt": "r1"}
BASE = {"python:3.11-slim": "sha256:" + "a" * 64}


def steps_of(recording: str) -> list[BuildStep]:
    parser = BuildKitStreamParser()
    list(parser.feed_text((RECORDINGS / recording).read_text()))
    list(parser.finish())
    return parser.steps


def snap(files=None, text=DOCKERFILE, args=None, base=None) -> build_context.ContextSnapshot:
    return build_context.ContextSnapshot(dict(files or FILES), text, args or {}, base or BASE)


def explain(steps, before, after):
    return builds.explain_misses(steps, before, build_context.diff(before, after), after)


def rerun_from(steps: list[BuildStep], index: int) -> list[BuildStep]:
    for step in steps:
        if step.index >= index:
            step.status = "executed"
    return steps


def test_files_a_copy_reads_changed():
    before, after = snap(), snap(files={**FILES, "main.py": "m2"})
    (miss,) = explain(steps_of("iris-edited.rawjson"), before, after)
    assert (miss.step_index, miss.instruction) == (5, "COPY main.py .")
    assert miss.changed_files == ["main.py"]
    assert miss.reason == "files it copies changed since the last build: main.py"


def test_the_instruction_text_changed():
    edited = DOCKERFILE.replace("COPY main.py .", "COPY main.py ./")
    steps = steps_of("iris-edited.rawjson")
    steps[-1].instruction = "COPY main.py ./"
    (miss,) = explain(steps, snap(), snap(text=edited))
    assert miss.reason == "this instruction is new or was edited in the Dockerfile"


def test_build_args_changed():
    text = DOCKERFILE.replace("WORKDIR /app", "WORKDIR /app\nARG FLAVOR=plain")
    text = text.replace("COPY main.py .", "RUN echo $FLAVOR > /flavor\nCOPY main.py .")
    step = BuildStep(5, 6, "RUN echo b > /flavor", status="executed")  # BuildKit fills it in
    steps = [*steps_of("iris-warm.rawjson")[:4], step]
    before, after = snap(text=text, args={"FLAVOR": "a"}), snap(text=text, args={"FLAVOR": "b"})
    (miss,) = explain(steps, before, after)
    assert miss.reason == "build args changed since the last build: FLAVOR=a -> b"


def test_the_base_image_changed():
    steps = rerun_from(steps_of("iris-warm.rawjson"), 2)
    after = snap(base={"python:3.11-slim": "sha256:" + "b" * 64})
    (miss,) = explain(steps, snap(), after)
    assert miss.step_index == 2
    assert miss.reason == (
        "the base image python:3.11-slim changed since the last build "
        "(aaaaaaaaaaaa -> bbbbbbbbbbbb)"
    )


def test_one_miss_reruns_every_later_step_of_its_stage():
    steps = rerun_from(steps_of("iris-warm.rawjson"), 3)
    before, after = snap(), snap(files={**FILES, "requirements.txt": "r2"})
    (miss,) = explain(steps, before, after)
    assert miss.instruction == "COPY requirements.txt ."
    assert [s.miss_reason for s in steps[3:]] == [
        "step 3 before it rebuilt, so its cache key changed",
        "step 3 before it rebuilt, so its cache key changed",
    ]


def test_an_mtime_alone_is_no_change_and_an_unexplained_miss_names_the_other_cache():
    # build_context keeps content checksums: a `touch` leaves the snapshot equal.
    assert build_context.diff(snap(), snap()).all == []
    (miss,) = explain(steps_of("iris-edited.rawjson"), snap(), snap())
    assert "keep separate caches" in miss.reason


def test_a_cold_build_names_no_single_step():
    steps = steps_of("iris-cold.rawjson")
    assert explain(steps, snap(), snap()) == []
    assert steps[1].miss_reason.startswith("nothing in this stage came from the cache")


def test_multiline_instructions_and_base_refs():
    text = "FROM a AS one\nRUN x \\\n    && y\nFROM one\nFROM b\n"
    assert "RUN x && y" in builds.instructions(text)
    assert build_context.base_refs(text) == ["a", "b"]
    assert builds.substitute("echo ${A} $B $C", {"A": "1", "B": "2"}) == "echo 1 2 $C"


def test_the_containerd_store_losing_a_cached_snapshot_is_recognised():
    """Engine 26's words (seen in CI) when an image that lost its name took a snapshot along."""
    said = (
        'failed to prepare extraction snapshot "extract-951497253-rg_D sha256:41a81b67ea144dae6'
        '1dd0d0f7351cf6910476313f6340b5be5c6f1ef0f79b953": parent snapshot sha256:fdf9859b10b6b'
        "a7de6ee5890530b67e62d87495cf5517f6d66655dc8a39ccfe0 does not exist: not found"
    )
    assert builds.SNAPSHOT_GONE_RE.search(said)
    assert not builds.SNAPSHOT_GONE_RE.search("process did not complete successfully: exit 1")


def test_a_no_cache_build_says_no_cache_for_every_step_it_ran():
    steps = steps_of("iris-cold.rawjson")
    (miss,) = builds.explain_misses(steps, snap(), None, snap(), nocache=True)
    ran = [s for s in steps if s.status == "executed" and not s.synthetic]
    assert ran and miss.step_index == ran[0].index
    assert {s.miss_reason for s in ran} == {builds.NOCACHE_REASON}
    assert not any("cache key changed" in (s.miss_reason or "") for s in steps)
