"""Lesson 3: a multi-stage build. The trainer stage fits the model during the build; only the model
file crosses into the final image. As taught, the predictor stage installs the same libraries as
the trainer, so the image is no smaller than the single-stage one; a predictor that serves the
model as ONNX with onnxruntime leaves scikit-learn and SciPy in the trainer stage. The three
images side by side, each against its floor."""

import pandas as pd
import streamlit as st

from dashboard.engine.analysis import images, stages
from dashboard.engine.catalog import labs
from dashboard.engine.ops import runs
from dashboard.engine.ops.builds import build_command, target_tag
from dashboard.ui import charts, common, exports, figures, guide, shell, state, theme, views
from dashboard.ui import text as T
from dashboard.work import tasks
from dashboard.work.jobs import JobKey

LAB = labs.get("iris-multistage")
SLIM = labs.get("iris-onnx")
SINGLE = labs.get("iris")
BUILD_KEY = JobKey("build", LAB.name)
SLIM_BUILD_KEY = JobKey("build", SLIM.name)
TARGET = "trainer"
TARGET_KEY = JobKey("build", f"{LAB.name} {TARGET}")
RUN_KEY = JobKey("run", LAB.name)
SLIM_RUN_KEY = JobKey("run", SLIM.name)
SAME_SIZE = 0.02  # within 2 % of iris-model:1.0 is "about the same size"
# How each of the three images is built, in the order the page compares them.
HOW = {
    SINGLE.name: "one stage (Lesson 1)",
    LAB.name: "multi-stage, as taught: the predictor installs scikit-learn",
    SLIM.name: "multi-stage, ONNX: the predictor installs onnxruntime",
}


def _dockerfile_text(lab) -> str:
    try:
        return (lab.path / lab.dockerfile).read_text()
    except OSError:
        return ""


def _stages_answer(snap, lab) -> None:
    """How the stages ran, from the finished build's steps: the sentence, the overlaps, the
    stage timeline (BuildKit's own times)."""
    if snap is None or snap.running or not snap.ok or snap.result is None:
        return
    result = snap.result
    rows = snap.state.get("steps", ())
    report = stages.analyse(rows, _dockerfile_text(lab), getattr(result, "target", None))
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
        exports.chart(
            figures.cached(charts.stages_timeline, report),
            theme=None,
            key=f"stages-{snap.key.slug}",
        )
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
    _stages_answer(snap, LAB)


def _lab_panel(lab):
    def panel(snap) -> None:
        views.build_panel(snap, stages=True, image=lab.image)
        _stages_answer(snap, lab)

    return panel


def _build_button(lab, key: JobKey, label: str, button_key: str, nocache: bool) -> None:
    facts = state.facts()
    common.command(
        build_command(
            lab.path, lab.dockerfile, lab.image, network=facts.build_network, nocache=nocache
        ),
        "This button runs:",
    )
    if st.button(label, key=button_key, type="primary", icon=":material/construction:"):
        state.start(key, tasks.build_lab(lab.name, nocache=nocache), f"build {lab.image}")
    common.live(key, _lab_panel(lab))


def _run_button(lab, key: JobKey, label: str, button_key: str) -> None:
    common.command(runs.docker_run_command(lab.image), "This button runs:")
    if st.button(label, key=button_key, type="primary", icon=":material/play_arrow:"):
        state.start(key, tasks.run_image(lab.image, lab.name), f"run {lab.image}")
    common.live(key, views.run_panel)


def _floors() -> dict[str, tuple[object, images.SizeFloor | None]]:
    """lab name -> (its image's report, its floor), for the images that are built."""
    base = state.image_report(state.facts().base_image)
    found = {}
    for lab in (SINGLE, LAB, SLIM):
        report = state.image_report(lab.image)
        if report is None:
            continue
        try:
            floor = images.size_floor(report, base) if base is not None else None
        except images.NotOnBase:
            floor = None
        found[lab.name] = (report, floor)
    return found


def _trainer_image(key: JobKey):
    """The trainer stage's image of this session's build of `key`: the classic builder keeps it
    as a `<none>` image; BuildKit keeps no image of a stage that is not the target."""
    snap = state.snapshot(key)
    rows = snap.state.get("steps", ()) if snap is not None and snap.ok else ()
    ids = [r.layer_id for r in rows if r.stage == 0 and r.layer_id]
    return state.image_report(ids[-1]) if ids else None


def _share(report, single) -> float | None:
    """How much bigger (or smaller, negative) than the single-stage image, or None."""
    if single is None or not single.size_bytes:
        return None
    return (report.size_bytes - single.size_bytes) / single.size_bytes


def _why(found) -> str:
    """The page's answer, with the measured numbers: why 2.0 is not smaller and the ONNX one is."""
    single = found.get(SINGLE.name, (None, None))[0]
    one = f"{SINGLE.image} ({theme.fmt_bytes(single.size_bytes)})" if single else SINGLE.image
    parts = []
    if LAB.name in found:
        two = found[LAB.name][0]
        said = f"**{LAB.image}** is {theme.fmt_bytes(two.size_bytes)}"
        share = _share(two, single)
        if share is not None:
            said += f", {share:+.1%} next to {one}"
            said += ": about the same size" if abs(share) < SAME_SIZE else ""
        parts.append(
            f"{said}. Its predictor stage installs the same scikit-learn, SciPy and NumPy as the "
            "trainer (`joblib.load` needs scikit-learn to rebuild the fitted pipeline), and a "
            "multi-stage build only saves what the build stage had and the final one does not "
            "need: as taught, that is `model.py` and nothing else."
        )
    if SLIM.name in found:
        slim = found[SLIM.name][0]
        said = f"**{SLIM.image}** is {theme.fmt_bytes(slim.size_bytes)}"
        share = _share(slim, single)
        if share is not None:
            said += f", {-share:.0%} smaller than {one}" if share < 0 else f", {share:+.1%}"
        parts.append(
            f"{said}. Its predictor runs the ONNX model with onnxruntime, so scikit-learn, SciPy, "
            "skl2onnx and onnx stay in the trainer stage."
        )
    floors = [floor for _, floor in found.values() if floor is not None]
    if floors:
        most = max(floors, key=lambda f: f.above_floor_bytes)
        parts.append(
            "Each image is within "
            f"{theme.fmt_bytes(max(most.above_floor_bytes, 0))} of its floor: what decides its "
            "size is what its last stage installs."
        )
    return " ".join(parts)


def _sizes_section() -> None:
    found = _floors()
    if not found:
        st.info("No Lesson 3 image yet: build them above (and iris-model:1.0 on Lesson 1).")
        return
    base = state.image_report(state.facts().base_image)
    base_count = len(base.layers) if base else 0
    bars = {report.ref: (report, base_count) for report, _ in found.values()}
    for lab, key in ((LAB, BUILD_KEY), (SLIM, SLIM_BUILD_KEY)):
        trainer = _trainer_image(key)
        if trainer is not None:
            bars[f"{lab.image} trainer stage (left behind)"] = (trainer, base_count)
    images_count = len(found)
    title = f"{T.plural(images_count, 'image')} side by side: what each is made of"
    if len(bars) > images_count:  # the classic builder leaves each trainer stage as an image
        stages_left = T.plural(len(bars) - images_count, "trainer stage")
        title = (
            f"{T.plural(images_count, 'image')} and {stages_left} left behind: what each is made of"
        )
    exports.chart(
        figures.cached(charts.stacked_sizes_chart, bars, title),
        theme=None,
        key="multistage-sizes",
    )
    single = found.get(SINGLE.name, (None, None))[0]
    table = []
    for name, (report, floor) in found.items():
        share = _share(report, single) if name != SINGLE.name else None
        table.append(
            {
                "image": report.ref,
                "how it is built": HOW[name],
                "size": theme.fmt_bytes(report.size_bytes),
                "floor": theme.fmt_bytes(floor.floor_bytes) if floor else "-",
                "above the floor": theme.fmt_bytes(floor.above_floor_bytes) if floor else "-",
                f"vs {SINGLE.image}": "" if share is None else f"{share:+.1%}",
            }
        )
    st.dataframe(pd.DataFrame.from_records(table), hide_index=True, key="floors")
    st.caption(
        "Sizes are the unpacked layers (the sum of `docker history`). The floor is the base "
        "image plus the layers the last stage's `RUN pip install` wrote, read from the same "
        "`docker history`: an image FROM the same base that installed only the same "
        "requirements could be no smaller. Above the floor is what the last stage copied in: "
        "the model, the code, the work folder."
    )
    if LAB.name in found or SLIM.name in found:
        st.info(f"**Why:** {_why(found)}", icon=":material/lightbulb:")
    missing = [lab.image for lab in (SINGLE, LAB, SLIM) if lab.name not in found]
    if missing:
        st.caption(f"Not built yet: {', '.join(missing)}.")
    common.command(
        f"docker images iris-model\ndocker history {LAB.image}\ndocker history {SLIM.image}"
    )


def render() -> None:
    common.header(
        T.TITLE_MULTISTAGE,
        "A build stage may install or compile a lot, but the product is a few files. A "
        "**multi-stage** Dockerfile builds in one stage and copies only the result into the next: "
        "here the **trainer** stage installs scikit-learn and trains the model with `RUN python "
        "model.py` (RUN, not CMD: it must happen during the build); the **predictor** stage "
        "installs the same libraries, because `joblib.load` needs scikit-learn to rebuild the "
        "fitted pipeline, and takes the model file with `COPY --from=trainer`. Stages are images "
        "being built, not containers; only the last stage becomes the image. Multi-stage saves "
        "only what the build stage had and the final one does not need: section 4 builds a "
        "predictor that needs far less.",
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
        common.show_file(LAB.path / "requirements.txt", "text", "requirements.txt (both stages)")
        common.show_file(LAB.path / "Makefile", "makefile", "Makefile (make build, make run)")

    st.header("1. Build both stages")
    nocache = st.checkbox(
        "Build without the cache (`--no-cache`), to watch the stages run",
        key="multistage-nocache",
        help="A cached rebuild takes a second and runs nothing; without the cache every step "
        "runs again, and BuildKit shows which ran at the same time.",
    )
    st.caption(
        "The lecture's question: up to which command do the trainer and predictor stages go "
        "together, and where does the predictor wait? BuildKit builds a step both stages share "
        "once (here everything up to the `pip install`: the same in both stages), runs steps "
        "of the two stages that do not wait for each other at the same time, and holds `COPY "
        "--from=trainer` until the trainer is done; "
        "the classic builder runs the stages one after the other, and its trainer image stays "
        "behind as a dangling `<none>` image (part of the build cache)."
    )
    _build_button(LAB, BUILD_KEY, T.BUILD_MULTISTAGE, "build-multistage", nocache)

    # ---------------------------------------------------------------- stages and COPY --from
    st.header("2. The stages, and what crossed between them")
    snap = state.snapshot(BUILD_KEY)
    rows = snap.state.get("steps", ()) if snap is not None and snap.ok else ()
    report = state.image_report(LAB.image)
    if not rows:
        st.caption("Build above to see each stage's steps (a cached rebuild takes a second).")
    else:
        frame = pd.DataFrame.from_records(
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
        summary = frame.groupby("stage", sort=False).sum(numeric_only=True).reset_index()
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
                "stage into the final image: the trained model, nothing else. The predictor's "
                "scikit-learn is its own `pip install`.",
                icon=":material/move_down:",
            )
        if report is not None:
            from_ids = [
                f"sha256:{r.layer_id}" for r in rows if "--from" in r.instruction and r.layer_id
            ]
            full_ids = [
                x.id for x in report.layers if x.id and any(x.id.startswith(f) for f in from_ids)
            ]
            base = state.image_report(state.facts().base_image)
            exports.chart(
                figures.cached(
                    charts.layers_chart, report, len(base.layers) if base else 0, full_ids
                ),
                theme=None,
                key="multistage-layers",
            )

    # ---------------------------------------------------------------- run
    st.header("3. Run the predictor")
    _run_button(LAB, RUN_KEY, T.RUN_MULTISTAGE, "run-multistage")

    # ---------------------------------------------------------------- the slim predictor
    st.header("4. A predictor without scikit-learn: ONNX")
    st.markdown(
        f"`{SLIM.image}` (labs/iris-onnx) has the same two stages. Its trainer fits the same "
        "pipeline, converts it to [ONNX](https://onnx.ai) with skl2onnx and checks that the "
        "ONNX model predicts exactly what scikit-learn predicts on the test set (if not, `RUN "
        "python model.py` fails the build). Its predictor installs only onnxruntime and NumPy "
        "(`requirements-predict.txt`) and serves `model_pipeline.onnx`: no scikit-learn, no "
        "SciPy, no hand-written inference."
    )
    slim_files = st.columns(2)
    with slim_files[0]:
        common.show_file(SLIM.path / "Dockerfile", "dockerfile", "labs/iris-onnx/Dockerfile")
        common.show_file(SLIM.path / "model.py", "python", "model.py (trainer stage)")
    with slim_files[1]:
        common.show_file(SLIM.path / "predict.py", "python", "predict.py (predictor stage)")
        common.show_file(SLIM.path / "requirements.txt", "text", "requirements.txt (trainer)")
        common.show_file(
            SLIM.path / "requirements-predict.txt", "text", "requirements-predict.txt (predictor)"
        )
        common.show_file(SLIM.path / "Makefile", "makefile", "Makefile (make build, make run)")
    guide.lab_hints(SLIM.name)
    _build_button(SLIM, SLIM_BUILD_KEY, T.BUILD_ONNX, "build-onnx", nocache)
    _run_button(SLIM, SLIM_RUN_KEY, T.RUN_ONNX, "run-onnx")

    # ---------------------------------------------------------------- sizes
    st.header("5. Three images side by side")
    _sizes_section()

    # ---------------------------------------------------------------- one stage
    st.header("6. Build one stage: `--target trainer`")
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
            network=state.facts().build_network,
            nocache=False,
            target=TARGET,
        ),
        "This button runs:",
    )
    if st.button(f"Build only the {TARGET} stage", key="build-trainer", icon=":material/filter_1:"):
        state.start(TARGET_KEY, tasks.build_lab(LAB.name, stage=TARGET), f"build {target_image}")
    common.live(TARGET_KEY, _target_panel)

    from dashboard.ui import make_panel  # the section is self-contained (ui/make_panel.py)

    make_panel.render(LAB.name, "7. The Makefile")


shell.run_page(render, __file__)
