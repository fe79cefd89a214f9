"""The benchmark's own statistics, goal verdicts and parsers (bench/stats.py and friends).

The CLI, du and CI-log texts below were recorded from this machine's daemon and .ci/run.
"""

import math

import pytest

from bench import stats
from bench.layers import BigSpec, big_dockerfile, built_from
from bench.prepare import build_summary, from_ci_log

# `DOCKER_BUILDKIT=0 docker build --network host --force-rm --label ...` of labs/iris, warm.
CLI_WARM = """\
Sending build context to Docker daemon  9.216kB
Step 1/9 : FROM python:3.11-slim
 ---> 4802a7756263
Step 2/9 : WORKDIR /app
 ---> Using cache
 ---> 1c59fe14d839
Step 3/9 : ENV PYTHONUNBUFFERED=1
 ---> Using cache
 ---> 7f4574631f91
Step 4/9 : COPY requirements.txt .
 ---> Using cache
 ---> c177f174e2c0
Step 5/9 : RUN pip install --no-cache-dir -r requirements.txt
 ---> Using cache
 ---> 0e04959dbca3
Step 6/9 : COPY main.py .
 ---> Using cache
 ---> 046fde3e6f4b
Step 7/9 : CMD ["python", "main.py"]
 ---> Using cache
 ---> 3d4116d38368
Step 8/9 : LABEL io.dockerml.dashboard.lab=bench-try
 ---> Using cache
 ---> 3a5d0b42c8ce
Step 9/9 : LABEL io.dockerml.dashboard.managed=true
 ---> Using cache
 ---> b088a6bdbb78
Successfully built b088a6bdbb78
Successfully tagged bench-iris:try2
"""

# The same with --no-cache (pip's own lines left out).
CLI_COLD = """\
Sending build context to Docker daemon  5.632kB
Step 1/9 : FROM python:3.11-slim
 ---> 4802a7756263
Step 2/9 : WORKDIR /app
 ---> Running in 5bb4d77dc396
Removing intermediate container 5bb4d77dc396
 ---> dfd6feacce69
Step 3/9 : ENV PYTHONUNBUFFERED=1
 ---> Running in 2d7de6ec12f9
Removing intermediate container 2d7de6ec12f9
 ---> f279404aa299
Step 4/9 : COPY requirements.txt .
 ---> 07d227842b53
Step 5/9 : RUN pip install --no-cache-dir -r requirements.txt
 ---> Running in 2f3844ee2146
Looking in links: http://127.0.0.1:3141/
Removing intermediate container 2f3844ee2146
 ---> bf7cc1d887e2
Step 6/9 : COPY main.py .
 ---> eeaceb950736
Step 7/9 : CMD ["python", "main.py"]
 ---> Running in 63783a927dda
Removing intermediate container 63783a927dda
 ---> dd2caa9d3767
Step 8/9 : LABEL io.dockerml.dashboard.lab=bench-rec
 ---> Running in 7499de53f93e
Removing intermediate container 7499de53f93e
 ---> bdc6d31286e4
Step 9/9 : LABEL io.dockerml.dashboard.managed=true
 ---> Running in 1ee2ed37c80a
Removing intermediate container 1ee2ed37c80a
 ---> a0a446bcad8d
Successfully built a0a446bcad8d
Successfully tagged bench-rec:cold
"""

# `du -sb` inside iris-model:2.0, as bench.sizes runs it (after its "#packages" line).
DU_PREDICTOR = """\
#packages cloudpickle joblib numpy
216\t/usr/local/bin/f2py
216\t/usr/local/bin/numpy-config
128911\t/usr/local/lib/python3.11/dist-packages/cloudpickle
17936\t/usr/local/lib/python3.11/dist-packages/cloudpickle-3.1.3.dist-info
2104120\t/usr/local/lib/python3.11/dist-packages/joblib
34985\t/usr/local/lib/python3.11/dist-packages/joblib-1.6.0.dist-info
43248781\t/usr/local/lib/python3.11/dist-packages/numpy
345861\t/usr/local/lib/python3.11/dist-packages/numpy-2.4.6.dist-info
28497771\t/usr/local/lib/python3.11/dist-packages/numpy.libs
"""

# The step markers of a .ci/run log (other lines shortened).
CI_LOG = """\

=== system packages (0s)

=== docker daemon (0s)
client 28.2.2, server 20.10.24+dfsg1 (API 1.41)

=== python packages (.venv) (0s)

=== compose v2 (29s)
Docker Compose version v2.40.3

=== offline classroom mode and lab images (30s)
python:3.11-slim present (offline stand-in built from Debian packages, 174 MB)
iris: iris-model:1.0 built in 0.1s, 7/7 steps cached, 444 MB

=== tests: ./dev test (41s)
"""


def test_summarize_gives_median_min_max_and_spread():
    s = stats.summarize([3.0, 1.0, 2.0, 10.0])
    assert (s.n, s.median, s.minimum, s.maximum) == (4, 2.5, 1.0, 10.0)
    assert s.spread == pytest.approx(9.0 / 2.5)
    assert stats.summarize([4]).spread == 0.0


def test_summarize_refuses_nothing():
    with pytest.raises(ValueError):
        stats.summarize([])


def test_paired_ratio_is_taken_pair_by_pair_not_from_medians():
    # The machine slows down over the run, yet every pair says a is 10 % slower.
    a = [1.1, 2.2, 4.4]
    b = [1.0, 2.0, 4.0]
    p = stats.paired(a, b)
    assert p.ratio.median == pytest.approx(1.1)
    assert p.ratio.minimum == pytest.approx(1.1) and p.ratio.maximum == pytest.approx(1.1)
    assert p.ratio_of_medians == pytest.approx(1.1)
    # One slow moment hit a in one pair and b in another: the pairwise median ignores both.
    drift = stats.paired([1.0, 5.0, 1.2], [1.0, 1.0, 5.0])
    assert drift.ratio.median == pytest.approx(1.0)
    assert drift.ratio_of_medians == pytest.approx(1.2)


def test_paired_needs_as_many_runs_each_and_survives_a_zero():
    with pytest.raises(ValueError):
        stats.paired([1.0, 2.0], [1.0])
    assert stats.paired([1.0], [0.0]).ratio.median == math.inf


def test_alternating_swaps_who_goes_first():
    assert stats.alternating(4) == [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]
    assert stats.alternating(0) == []


@pytest.mark.parametrize(
    ("op", "value", "target", "met", "shortfall"),
    [
        ("<=", 1.04, 1.05, True, ""),
        ("<=", 1.05, 1.05, True, ""),
        ("<=", 1.26, 1.05, False, "1.20x the limit"),
        ("<", 1.0, 1.0, False, "1.00x the limit"),
        (">=", 32.0, 10.0, True, ""),
        (">=", 5.0, 10.0, False, "2.00x short of the target"),
    ],
)
def test_goal_verdicts_and_shortfalls(op, value, target, met, shortfall):
    g = stats.goal("k", "title", value, op, target, "x")
    assert g.met is met
    assert g.shortfall == shortfall


def test_an_unmeasured_goal_is_neither_met_nor_missed():
    g = stats.goal("k", "title", None, "<", 10)
    assert g.met is None and g.shortfall == ""


def test_goal_refuses_an_unknown_comparison():
    with pytest.raises(ValueError):
        stats.goal("k", "title", 1.0, "==", 1.0)


def test_cli_cache_counts_on_recorded_output():
    assert stats.cli_cache_counts(CLI_WARM) == (8, 8)
    assert stats.cli_cache_counts(CLI_COLD) == (8, 0)


def test_parse_du_reads_sizes_and_skips_other_lines():
    sizes = stats.parse_du(DU_PREDICTOR)
    assert len(sizes) == 9
    assert sizes["/usr/local/lib/python3.11/dist-packages/numpy"] == 43248781
    assert sum(sizes.values()) == 74378797
    assert stats.parse_du("du: cannot access 'x': No such file\n") == {}


def test_ci_steps_give_each_step_its_duration():
    steps = stats.ci_steps(CI_LOG)
    assert [s.name for s in steps] == [
        "system packages",
        "docker daemon",
        "python packages (.venv)",
        "compose v2",
        "offline classroom mode and lab images",
        "tests: ./dev test",
    ]
    assert steps[3].seconds == 1
    assert steps[4].start_s == 30 and steps[4].seconds == 11
    assert steps[-1].seconds is None


def test_a_ci_log_with_the_base_image_present_is_not_a_fresh_machine(tmp_path):
    log = tmp_path / "ci.log"
    log.write_text(CI_LOG)
    fresh = from_ci_log(log)
    assert fresh["fresh"] is False and fresh["prepare_step_s"] == 11
    log.write_text(CI_LOG.replace("python:3.11-slim present", "Building a stand-in python"))
    assert from_ci_log(log)["fresh"] is True
    assert from_ci_log(None)["source"] is None


def test_build_summary_reads_prepare_json_lines():
    output = "\n".join(
        [
            '{"type": "message", "text": "Wheelhouse served"}',
            '{"type": "result", "lab": "iris", "ok": true, "steps_cached": 7, "steps_total": 7,'
            ' "seconds": 0.1}',
            '{"type": "result", "lab": "iris-multistage", "ok": true, "steps_cached": 5,'
            ' "steps_total": 14, "seconds": 15.1}',
            '{"type": "result", "lab": "wine", "ok": true}',
            "not json",
        ]
    )
    labs = build_summary(output)
    assert labs["iris"]["all_cached"] is True
    assert labs["iris-multistage"]["all_cached"] is False
    assert labs["wine"]["all_cached"] is None


def test_big_dockerfile_writes_overwrites_and_deletes_what_the_spec_says():
    text = big_dockerfile(BigSpec(files=1000, file_kb=512, overwrite=10, delete=20))
    lines = text.splitlines()
    assert lines[0] == "FROM python:3.11-slim"
    runs = [line for line in lines if line.startswith("RUN ")]
    assert len(runs) == 2
    assert "head -c 524288 /dev/urandom" in runs[0] and "-lt 1000" in runs[0]
    assert "-lt 10 ]" in runs[1] and "i=980;" in runs[1] and "rm /data/" in runs[1]
    assert BigSpec().written_bytes > 2 * 10**9


class _Image:
    def __init__(self, created_by):
        self._history = [{"CreatedBy": c} for c in created_by]

    def history(self):
        return self._history


def test_a_kept_big_image_is_reused_only_when_built_from_the_same_recipe():
    recipe = big_dockerfile(BigSpec(files=10, overwrite=1, delete=1))
    runs = [line[4:] for line in recipe.splitlines() if line.startswith("RUN ")]
    same = _Image(["/bin/sh -c " + r for r in reversed(runs)] + ["/bin/sh -c #(nop) CMD"])
    assert built_from(same, recipe)
    other = big_dockerfile(BigSpec(files=20, overwrite=1, delete=1))
    assert not built_from(same, other)


def test_markdown_table_escapes_pipes_and_checks_widths():
    table = stats.markdown_table(["a", "b"], [("x|y", 1)])
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| x\\|y | 1 |"]
    with pytest.raises(ValueError):
        stats.markdown_table(["a", "b"], [(1,)])


def test_human_units():
    assert stats.human_bytes(247_500_000) == "247.5 MB"
    assert stats.human_bytes(512) == "512 B"
    assert stats.seconds(0.299) == "299 ms"
    assert stats.seconds(9.823) == "9.82 s"


def test_cli_cache_counts_reads_buildkits_plain_progress():
    output = (
        "#5 [1/5] FROM docker.io/library/python:3.11-slim\n#5 DONE 0.0s\n"
        "#6 [2/5] WORKDIR /app\n#6 CACHED\n\n#7 [3/5] COPY requirements.txt .\n#7 CACHED\n"
        "#8 [4/5] RUN pip install --no-cache-dir -r requirements.txt\n#8 CACHED\n"
        "#9 [trainer 5/5] COPY main.py .\n#9 DONE 0.0s\n"
    )
    assert stats.cli_cache_counts(output) == (4, 3)
    # BuildKit calls a WORKDIR it has seen CACHED even under --no-cache: a cold run tolerates it
    assert stats.cli_cached_workdirs(output) == 1


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       150 |        150 | _io
import time:       800 |       2500 | site
import time:       300 |       1300 |     urllib3
import time:       200 |       1500 |   requests
import time:       100 |       1600 | docker
import time:       400 |       2000 | dashboard.cli
"""


def test_import_times_sum_every_module_and_give_the_sdks_part():
    total, docker = stats.import_times(IMPORTTIME)
    assert total == pytest.approx(0.00195) and docker == pytest.approx(0.0016)
    assert stats.import_times(IMPORTTIME, "requests")[1] == pytest.approx(0.0015)
    assert stats.import_times("no report") == (0.0, 0.0)
