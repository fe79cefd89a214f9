"""Lesson 3: a multi-stage build. The trainer stage fits the model during the build; only the model
file crosses into the final image, which is much smaller than the single-stage one."""

import pandas as pd
import streamlit as st

from dashboard.engine import labs, runs, stages
from dashboard.engine.builds import build_command, target_tag
from dashboard.ui import charts, common, exports, guide, shell, state, theme, views
from dashboard.ui import text as T
from dashboard.work import tasks
from dashboard.work.jobs import JobKey

LAB = labs.get("iris-multistage")
SINGLE = labs.get("iris")
BUILD_KEY = JobKey("build", LAB.name)
TARGET = "trainer"
TARGET_KEY = JobKey("build", f"{LAB.name} {TARGET}")
RUN_KEY = JobKey("run", LAB.name)


def _dockerfile_text() -> str:
    try:
        return (LAB.path / LAB.dockerfile).read_text()
    except OSError:
        return ""


def _stages_answer(snap) -> None:
    """How the stages ran, from the finished build's steps: the sentence, the overlaps, the
    stage timeline (BuildKit's own times)."""
    if snap is None or snap.running or not snap.ok or snap.result is None:
        return
    result = snap.result
    rows = snap.state.get("steps", ())
    report = stages.analyse(rows, _dockerfile_text(), getattr(result, "target", None))
    if report.sentence:
        st.info(f"**How the stages ran:** {report.sentence}", icon=":material/timeline:")
    if report.overlaps:
        st.dataframe(
            pd.DataFrame.from_records(
                [
                    {
                        "trainer step": o.first,
                        "predictor step": o.second,
                        "seconds at the same time": round(o.seconds, 2),
                    }
                    for o in report.overlaps
                ]
            ),
            hide_index=True,
            key=f"overlaps-{snap.key.slug}",
        )
    if report.timed and report.spans and len(report.stages) > 1:
        exports.chart(charts.stages_timeline(report), theme=None, key=f"stages-{snap.key.slug}")
    if report.target:
        st.dataframe(
            pd.DataFrame.from_records(
                [{"stage": n, "this build": "built"} for n in report.stages]
                + [{"stage": n, "this build": "skipped"} for n in report.skipped]
            ),
            hide_index=True,
            key="target-stages",
        )


def _target_panel(snap) -> None:
    views.build_panel(snap, stages=True, chart_key="multistage-target")
    _stages_answer(snap)


def render() -> None:
    common.header(
        T.TITLE_MULTISTAGE,
        "A build stage may install or compile a lot, but the product is a few files. A "
        "**multi-stage** Dockerfile builds in one stage and copies only the result into the next: "
        "here the **trainer** stage installs scikit-learn and trains the model with `RUN python "
        "model.py` (RUN, not CMD: it must happen during the build); the **predictor** stage "
        "installs only NumPy and joblib and takes the model file with `COPY --from=trainer`. "
        "Stages are images being built, not containers; only the last stage becomes the image.",
    )
    guide.progress("multistage")

    files = st.columns([3, 2])
    with files[0]:
        common.show_file(
            LAB.path / "Dockerfile", "dockerfile", "labs/iris-multistage/Dockerfile", expanded=True
        )
        guide.lab_hints(LAB.name)
    with files[1]:
        common.show_file(LAB.path / "model.py", "python", "model.py (trainer stage)")
        common.show_file(LAB.path / "predict.py", "python", "predict.py (predictor stage)")
        common.show_file(LAB.path / "requirements.txt", "text", "requirements.txt (trainer)")
        common.show_file(
            LAB.path / "requirements-predict.txt", "text", "requirements-predict.txt (predictor)"
        )
        common.show_file(LAB.path / "Makefile", "makefile", "Makefile (make build, make run)")

    st.header("1. Build both stages")
    facts = state.facts()
    nocache = st.checkbox(
        "Build without the cache (`--no-cache`), to watch the stages run",
        key="multistage-nocache",
        help="A cached rebuild takes a second and runs nothing; without the cache every step "
        "runs again, and BuildKit shows which ran at the same time.",
    )
    common.command(
        build_command(
            LAB.path, LAB.dockerfile, LAB.image, network=facts.build_network, nocache=nocache
        ),
        "This button runs:",
    )
    st.caption(
        "The lecture's question: up to which command do the trainer and predictor stages go "
        "together, and where does the predictor wait? BuildKit builds a step both stages share "
        "once, runs the two stages at the same time, and holds `COPY --from=trainer` until the "
        "trainer is done; the classic builder runs the stages one after the other, and its "
        "trainer image stays behind as a dangling `<none>` image (part of the build cache)."
    )
    if st.button(
        T.BUILD_MULTISTAGE, key="build-multistage", type="primary", icon=":material/construction:"
    ):
        state.start(BUILD_KEY, tasks.build_lab(LAB.name, nocache=nocache), f"build {LAB.image}")

    def panel(snap) -> None:
        views.build_panel(snap, stages=True)
        _stages_answer(snap)

    common.live(BUILD_KEY, panel)

    # ---------------------------------------------------------------- stages and COPY --from
    st.header("2. The stages, and what crossed between them")
    snap = state.snapshot(BUILD_KEY)
    rows = snap.state.get("steps", ()) if snap is not None and snap.ok else ()
    report = state.image_report(LAB.image)
    if not rows:
        st.caption("Build above to see each stage's steps (a cached rebuild takes a second).")
    else:
        stages = pd.DataFrame.from_records(
            [
                {
                    "stage": r.stage_name or f"stage {r.stage}",
                    "steps": 1,
                    "executed": int(r.status == "executed"),
                    "from cache": int(r.status in ("cached", "base")),
                    "seconds": r.seconds,
                }
                for r in rows
            ]
        )
        summary = stages.groupby("stage", sort=False).sum(numeric_only=True).reset_index()
        summary["seconds"] = summary["seconds"].round(2)
        st.dataframe(summary, hide_index=True, key="stages")
        for step in (r for r in rows if "--from" in r.instruction):
            layer = None
            if report is not None and step.layer_id:
                layer = next(
                    (
                        x
                        for x in report.layers
                        if x.id and x.id.startswith(f"sha256:{step.layer_id}")
                    ),
                    None,
                )
            size = theme.fmt_bytes(layer.size_bytes) if layer else "a few kB"
            st.info(
                f"`{step.instruction}` (step {step.index}) carried **{size}** from the trainer "
                "stage into the final image: the trained model, and nothing of scikit-learn.",
                icon=":material/move_down:",
            )

    # ---------------------------------------------------------------- sizes
    st.header("3. Single-stage vs multi-stage size")
    single = state.image_report(SINGLE.image)
    sizes = {}
    if single is not None:
        sizes[f"{SINGLE.image} (single stage)"] = single.size_bytes
    trainer_rows = [r for r in rows if r.stage == 0 and r.layer_id]
    trainer = state.image_report(trainer_rows[-1].layer_id) if trainer_rows else None
    if trainer is not None:
        sizes["trainer stage (left behind)"] = trainer.size_bytes
    if report is not None:
        sizes[f"{LAB.image} (multi-stage)"] = report.size_bytes
    if report is None:
        st.info(f"There is no {LAB.image} yet: build it above.")
    else:
        cols = st.columns(3)
        views.size_metric(cols[0], f"{LAB.image}", report.size_bytes, report.size)
        if single is not None:
            saved = single.size_bytes - report.size_bytes
            views.size_metric(cols[1], SINGLE.image, single.size_bytes, single.size)
            cols[2].metric(
                "Saved by multi-stage",
                theme.fmt_bytes(saved),
                delta=f"-{saved / single.size_bytes:.0%}" if single.size_bytes else None,
                delta_color="inverse",
            )
        else:
            cols[1].caption(f"Build {SINGLE.image} on the Lesson 1 page to compare.")
        exports.chart(
            charts.compare_sizes(sizes, "Image size: what ships vs what was needed to build it"),
            theme=None,
            key="multistage-sizes",
        )
        from_ids = [
            f"sha256:{r.layer_id}" for r in rows if "--from" in r.instruction and r.layer_id
        ]
        full_ids = [
            x.id for x in report.layers if x.id and any(x.id.startswith(f) for f in from_ids)
        ]
        base = state.image_report(facts.base_image)
        exports.chart(
            charts.layers_chart(report, len(base.layers) if base else 0, full_ids),
            theme=None,
            key="multistage-layers",
        )
        common.command(f"docker images iris-model\ndocker history {LAB.image}")

    # ---------------------------------------------------------------- one stage
    st.header("4. Build one stage: `--target trainer`")
    st.caption(
        "`--target` stops at a stage: its image is the result, and a stage the target does not "
        "need is not built at all. The dashboard tags it apart, so `iris-model:2.0` stays the "
        "predictor."
    )
    target_image = target_tag(LAB.image, TARGET)
    common.command(
        build_command(
            LAB.path,
            LAB.dockerfile,
            target_image,
            network=facts.build_network,
            nocache=False,
            target=TARGET,
        ),
        "This button runs:",
    )
    if st.button(f"Build only the {TARGET} stage", key="build-trainer", icon=":material/filter_1:"):
        state.start(TARGET_KEY, tasks.build_lab(LAB.name, stage=TARGET), f"build {target_image}")
    common.live(TARGET_KEY, _target_panel)

    # ---------------------------------------------------------------- run
    st.header("5. Run the predictor")
    common.command(runs.docker_run_command(LAB.image), "This button runs:")
    if st.button(
        T.RUN_MULTISTAGE, key="run-multistage", type="primary", icon=":material/play_arrow:"
    ):
        state.start(RUN_KEY, tasks.run_image(LAB.image, LAB.name), f"run {LAB.image}")
    common.live(RUN_KEY, views.run_panel)

    from dashboard.ui import make_panel  # the section is self-contained (ui/make_panel.py)

    make_panel.render(LAB.name, "6. The Makefile")


shell.run_page(render, __file__)
