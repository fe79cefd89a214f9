"""Sizes: every lab image in one chart (total and by layer), wasted space the way dive counts
it, what `docker system df` reports, and a clean-up that touches only what the dashboard made."""

import pandas as pd
import streamlit as st

from dashboard.engine.analysis import images as image_facts
from dashboard.engine.base import labels, owner
from dashboard.engine.catalog import labs
from dashboard.engine.ops import cleanup, registry
from dashboard.ui import charts, common, exports, figures, shell, state, theme
from dashboard.ui import text as T
from dashboard.work import tasks
from dashboard.work.jobs import JobKey


def images_sizes_note(images) -> str:
    """Which size the table and charts use, and what `docker images` shows on this store."""
    if any(i.size is not None and i.size.containerd for i in images):
        return "This Docker keeps images in the containerd image store. " + image_facts.SIZE_MEANING
    return (
        "Sizes are the unpacked layers, the sum of `docker history`; on this Docker's graph "
        "driver that is also what `docker images` shows."
    )


CLEAN_KEY = JobKey("cleanup")
MAX_NAMED = 8  # names in the clean-up's sentence; the table lists every one


def render() -> None:
    common.header(
        T.TITLE_SIZES,
        "Image size is download time, disk and start-up time on every machine that runs it. The "
        "lecture's iris image was 428 MB on python 3.9-slim; ML images with CUDA reach 20-30 GB. "
        "Know where the bytes are: the base image, the library install, your files.",
    )
    facts = state.facts()

    # ---------------------------------------------------------------- images
    st.header("1. The lab images")
    images = state.lab_images()
    if not images:
        st.info("No lab image yet: build one on the lesson pages.")
    else:
        exports.chart(figures.cached(charts.sizes_chart, images), theme=None, key="sizes")
        base = state.image_report(facts.base_image)
        base_count = len(base.layers) if base else 0
        reports = {}
        for image in images:
            ref = image.tags[0] if image.tags else image.id
            report = state.image_report(ref)
            if report is not None:
                reports[ref] = (report, len(report.layers) if image.base else base_count)
        if reports:
            exports.chart(
                figures.cached(charts.stacked_sizes_chart, reports), theme=None, key="stacked"
            )
            st.caption(
                "Shared layers are stored once: every lab image here starts with the same "
                f"{theme.fmt_bytes(base.size_bytes if base else 0)} base image, so the disk holds "
                "it one time, not once per image."
            )
        table = pd.DataFrame.from_records(
            [
                {
                    "image": ", ".join(image.tags) or image.name,
                    "unpacked layers": theme.fmt_bytes(image.size_bytes),
                    **(
                        {
                            "disk usage": theme.fmt_bytes(image.size.disk_bytes or 0),
                            "content size": theme.fmt_bytes(image.size.content_bytes or 0),
                        }
                        if image.size is not None and image.size.containerd
                        else {}
                    ),
                    "lab": image.lab or ("base image" if image.base else ""),
                    "created": image.created.strftime("%Y-%m-%d %H:%M") if image.created else "",
                    "id": image.id.removeprefix("sha256:")[:12],
                }
                for image in images
            ]
        )
        st.dataframe(table, hide_index=True, key="images-table")
        st.caption(images_sizes_note(images))
    common.command(
        f"docker images --filter label={labels.MANAGED}=true\ndocker history iris-model:1.0",
        "The same in a terminal:",
    )

    # ---------------------------------------------------------------- dive-style efficiency
    st.header("2. Wasted space, the way dive counts it")
    st.markdown(
        "A file written in one layer and changed or deleted in a later one still ships in the "
        "earlier layer. [dive](https://github.com/wagoodman/dive) reads every layer's files and "
        "scores the image: 100 % means no byte is stored twice. The dashboard does the same from "
        "`docker save`, or, when the daemon is on this machine, from the same tar headers where "
        "the daemon keeps them (its overlay2 layer store, or containerd's content store): the "
        "same answer without a copy of the image."
    )
    refs = [t for image in images for t in image.tags if not image.base]
    # Lesson 1's image first (not a registry copy of it, which sorts before it).
    lesson1 = labs.get("iris").image
    refs.sort(key=lambda t: (t != lesson1, _in_registry(t), t))
    if refs:
        pick = st.container(horizontal=True, vertical_alignment="bottom")
        ref = pick.selectbox("Image", refs, key="analyse-ref", width=360)
        if pick.button(T.ANALYSE_IMAGE, key="analyse", icon=":material/search:"):
            state.start(JobKey("analyse", ref), tasks.analyse_image(ref), f"analyse {ref}")
        common.command(
            f"docker save {ref} -o image.tar   # then read each layer's tar",
            "By hand (what the dashboard falls back to):",
        )

        def analyse_panel(snap) -> None:
            outcome = common.outcome(
                snap,
                idle="Not analysed yet (takes a few seconds; longer when it needs `docker save`).",
            )
            if outcome is None:
                return
            report = outcome.report
            cols = st.columns(4)
            cols[0].metric("Efficiency", f"{report.score:.1%}")
            cols[1].metric("Wasted space", theme.fmt_bytes(report.wasted_bytes))
            cols[2].metric("Files in 2+ layers", report.inefficient_paths)
            cols[3].metric("Removed files", report.removed_files)
            source = outcome.source or "docker save"
            why = f" (no fast path: {outcome.fallback_reason})" if outcome.fallback_reason else ""
            st.caption(f"Layers read from: {source}{why}.")
            st.dataframe(
                pd.DataFrame.from_records(
                    [
                        {
                            "layer": layer.index,
                            "created by": layer.created_by,
                            "size": theme.fmt_bytes(layer.size_bytes),
                            "added": layer.added,
                            "modified": layer.modified,
                            "removed": layer.removed,
                        }
                        for layer in outcome.layers
                    ]
                ),
                hide_index=True,
                key=f"files-{outcome.ref}",
            )
            if report.top:
                st.markdown("**Largest paths stored more than once**")
                st.dataframe(
                    pd.DataFrame.from_records(
                        [
                            {
                                "path": w.path,
                                "total size": theme.fmt_bytes(w.cumulative_size),
                                "in layers": ", ".join(map(str, w.layers)),
                                "removed later": "yes" if w.removed else "",
                            }
                            for w in report.top
                        ]
                    ),
                    hide_index=True,
                    key=f"wasted-{outcome.ref}",
                )

        common.live(JobKey("analyse", ref), analyse_panel)

    # ---------------------------------------------------------------- docker system df
    st.header("3. Disk use (docker system df)")
    usage = state.disk_usage()
    cols = st.columns(4)
    cols[0].metric("Docker's disk use", theme.fmt_bytes(usage.total_bytes))
    cols[1].metric("Reclaimable", theme.fmt_bytes(sum(r.reclaimable_bytes for r in usage.rows)))
    cols[2].metric("The dashboard's share", theme.fmt_bytes(usage.ours_bytes))
    cols[3].metric("Build cache", theme.fmt_bytes(usage.build_cache.size_bytes))
    exports.chart(figures.cached(charts.disk_chart, usage), theme=None, key="disk")
    st.dataframe(
        pd.DataFrame.from_records(
            [
                {
                    "TYPE": r.kind,
                    "TOTAL": r.count,
                    "ACTIVE": r.active,
                    "SIZE": theme.fmt_bytes(r.size_bytes),
                    "RECLAIMABLE": f"{theme.fmt_bytes(r.reclaimable_bytes)} "
                    f"({r.reclaimable_share:.0%})",
                    "ours": ""
                    if r.ours_count is None
                    else f"{r.ours_count}: {theme.fmt_bytes(r.ours_bytes)}",
                }
                for r in usage.rows
            ]
        ),
        hide_index=True,
        key="df",
    )
    common.command("docker system df", "The same in a terminal:")
    st.caption(
        "Build Cache is BuildKit's: where buildx is installed every lesson build adds to it "
        '(and Compose\'s builds everywhere). A record an image still uses is "shared" and not '
        "counted in its size; after `docker rmi` it is, and a rebuild is still instant. The "
        "classic builder's cache is the intermediate images of earlier builds (the `<none>` "
        "images), counted under Images. The dashboard never prunes the build cache: see the "
        "cache lesson."
    )

    # ---------------------------------------------------------------- clean-up
    st.header("4. Clean up what the dashboard made")
    st.markdown(
        f"Everything the dashboard creates carries the label `{labels.MANAGED}=true` (and a "
        "session label on containers and volumes). The clean-up removes **only** those, never "
        "anything else on this machine, and never forces a removal: a running container is "
        "stopped first (`docker stop`), and what is still in use is reported and left."
    )
    session = labels.current_session()
    inventory = state.inventory()
    counts = inventory.counts
    cols = st.columns(4)
    mine = {
        "containers": sum(1 for o in inventory.containers if o.session == session),
        "volumes": sum(1 for o in inventory.volumes if o.session == session),
        "networks": sum(1 for o in inventory.networks if o.session == session),
    }
    for col, (kind, count) in zip(cols, counts.items(), strict=True):
        col.metric(kind.capitalize(), count)
        if kind in mine:
            col.caption(f"{mine[kind]} from this session")
    if inventory.all and not state.presenting():
        with st.expander("What would be removed"):
            st.dataframe(
                pd.DataFrame.from_records(
                    [
                        {
                            "kind": o.kind,
                            "name": o.name,
                            "lab": o.lab or "",
                            "session": o.session or "",
                            "status": o.status,
                        }
                        for o in inventory.all
                    ]
                ),
                hide_index=True,
                key="inventory",
            )
    # The registry's pushed images live in its volume: the registry page keeps them when it
    # stops the registry, so a session clean-up never takes them (the full clean-up does).
    keep = (registry.VOLUME,)
    clean = st.columns(2)
    with clean[0]:
        volumes_too = st.checkbox(
            f"Also this session's volumes and networks (not {registry.VOLUME}, the registry's "
            "pushed images)",
            key="clean-session-volumes",
        )
        common.command(
            cleanup.reset_commands(
                f"{labels.SESSION}={session}",
                containers_only=not volumes_too,
                include_images=False,
                keep_volumes=keep,
            ),
            (
                "This session's containers, then its networks and volumes except "
                f"`{registry.VOLUME}` (remove that on the registry page); images stay:"
                if volumes_too
                else "This session's containers only; its volumes (the registry's pushed "
                "images, the wine model), networks and images stay:"
            ),
        )
        if st.button(
            T.CLEAN_SESSION_VOLUMES if volumes_too else T.CLEAN_SESSION,
            key="clean-session",
            icon=":material/cleaning_services:",
        ):
            state.start(
                CLEAN_KEY,
                tasks.reset(
                    session,
                    include_images=False,
                    containers_only=not volumes_too,
                    keep_volumes=keep,
                ),
                "clean-up",
            )
    with clean[1]:
        student = owner.current().student
        wanted = f"{labels.STUDENT}={student}" if student else f"{labels.MANAGED}=true"
        common.command(
            cleanup.reset_commands(wanted, include_images=True),
            (
                f"Every container, network, volume and image of {student} (labs need a "
                "rebuild; other students' are never touched):"
                if student
                else "Every container, network, volume (the registry's pushed images too) and "
                "image the dashboard made (labs need a rebuild):"
            ),
        )
        sure = st.checkbox("Yes, remove the lab images too", key="clean-all-sure")
        if st.button(
            T.CLEAN_ALL, key="clean-all", disabled=not sure, icon=":material/delete_forever:"
        ):
            state.start(CLEAN_KEY, tasks.reset(None, include_images=True), "clean-up")

    def clean_panel(snap) -> None:
        report = common.outcome(snap, working="Removing…")
        if report is None:
            return
        if not report.removals:
            st.success("Clean-up: nothing to remove.")
            return
        removed = report.removed
        named = ", ".join(f"{r.kind} {r.name}" for r in removed[:MAX_NAMED])
        if len(removed) > MAX_NAMED:
            named += f" and {len(removed) - MAX_NAMED} more (in the table)"
        said = f"Clean-up: {report.summary}" + (f". Removed: {named}." if named else ".")
        (st.success if report.ok else st.warning)(said)
        st.dataframe(
            pd.DataFrame.from_records(
                [
                    {"kind": r.kind, "name": r.name, "outcome": r.outcome, "why": r.detail}
                    for r in report.removals
                ]
            ),
            hide_index=True,
            key="clean-result",
        )

    common.live(CLEAN_KEY, clean_panel)


def _in_registry(ref: str) -> bool:
    """`127.0.0.1:5000/iris-model:1.0`: a registry's copy (its first part is a host)."""
    first, _, rest = ref.partition("/")
    return bool(rest) and ("." in first or ":" in first or first == "localhost")


shell.run_page(render, __file__)
