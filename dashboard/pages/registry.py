"""The registry lesson: a local registry, docker push and docker pull, tags and digests."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.engine.catalog import labs
from dashboard.engine.ops import registry as reg
from dashboard.engine.ops import runs
from dashboard.ui import common, guide, shell, state, theme, views
from dashboard.ui import text as T
from dashboard.work import tasks
from dashboard.work.jobs import JobKey, JobSnapshot

IRIS = labs.get("iris")
MULTI = labs.get("iris-multistage")
UP_KEY = JobKey("registry-up", reg.CONTAINER)
PUSH_KEY = JobKey("registry-push", IRIS.name)
PUSH2_KEY = JobKey("registry-push", MULTI.name)
VIEW_KEY = JobKey("registry-view", IRIS.name)
RMI_KEY = JobKey("registry-rmi", IRIS.name)
PULL_KEY = JobKey("registry-pull", IRIS.name)
RUN_KEY = JobKey("run", reg.PULLED_LAB)
DOWN_KEY = JobKey("registry-down", reg.CONTAINER)


def _log(snap: JobSnapshot, expanded: bool = False) -> None:
    with st.expander("What Docker printed", expanded=expanded):
        st.code("\n".join(snap.lines()) or "(nothing)", language="text")


def _finished(snap: JobSnapshot | None, idle: str = ""):
    """The job's result once it succeeded; while it runs, its progress and live log."""
    if snap is not None and snap.running:
        common.outcome(snap)
        common.live_log(snap.lines()[-60:])
        return None
    return common.outcome(snap, idle=idle)


def _panel(show: Callable[[Any], None], idle: str = "") -> Callable[[JobSnapshot | None], None]:
    """A job's panel: progress and live log while it runs, then `show(result)` and the log."""

    def panel(snap: JobSnapshot | None) -> None:
        done = _finished(snap, idle)
        if done is not None:
            show(done)
            _log(snap)

    return panel


def _clock(at: float | None) -> str:
    return datetime.fromtimestamp(at).strftime("%H:%M:%S") if at else "earlier"


def up_panel(snap: JobSnapshot | None) -> None:
    """The start's result; once the registry no longer runs (stopped in section 5, or from a
    terminal), the start is told as past, so it never contradicts the state above."""
    done = _finished(snap)
    if done is None:
        return
    if done.image.note:
        st.info(done.image.note, icon=":material/cloud_off:")
    verb = "started" if done.started else "was running already"
    if state.registry_state().running:
        st.success(
            f"The registry {verb}: {done.state.image} answers on http://{reg.ADDRESS}/v2/ "
            f"({theme.fmt_seconds(done.seconds)}).",
            icon=":material/check_circle:",
        )
    else:
        st.caption(
            f"At {_clock(snap.finished_at)} the registry {verb} ({done.state.image}); it does "
            f"not run now, so nothing answers on http://{reg.ADDRESS}/v2/. Start it again to "
            "push or pull."
        )
    common.command(done.command, "The command it stands for:")
    _log(snap)


def _show_push(done) -> None:
    push = done.transfer
    cols = st.columns(4)
    cols[0].metric("Blobs", len(push.layers))
    cols[1].metric("Pushed", len(push.with_status("Pushed")))
    cols[2].metric("Layer already exists", len(push.already_existed))
    cols[3].metric("Took", theme.fmt_seconds(push.seconds))
    st.dataframe(
        pd.DataFrame.from_records(
            [
                {"layer": x.id, "result": x.status, "went through": " → ".join(x.seen)}
                for x in push.layers
            ]
        ),
        hide_index=True,
        key=f"layers-{push.source.replace(':', '-')}",
    )
    st.markdown(f"The registry answered with the manifest digest `{push.digest}`.")
    st.caption(
        "Each row is one piece Docker sent, named by the short id `docker push` printed for it."
    )
    with st.expander("Why? (the ids and the number of rows differ between Docker installs)"):
        st.caption(
            "A graph-driver daemon (overlay2) lists the layers by their diff ids' first 12 "
            "digits; the containerd image store lists the stored blobs by their digests, and the "
            "image's config and BuildKit's attestation go through the same lines."
        )
    if push.already_existed:
        st.caption(
            "**Layer already exists**: the registry already holds a blob with that digest (the "
            "base image's layers, pushed with the first image), so Docker only tells it to link "
            "the blob into this repository. A layer is stored once, however many images use it."
        )
    common.command(push.command, "The commands it stands for:")


def _show_pull(outcome) -> None:
    done = outcome.transfer
    downloaded = done.downloaded
    here = f", {len(done.already_existed)} already here" if done.already_existed else ""
    st.success(
        f"Pulled {done.ref} in {theme.fmt_seconds(done.seconds)}: {len(downloaded)} layers "
        f"downloaded{here}. Digest `{done.digest}`.",
        icon=":material/check_circle:",
    )
    if outcome.restored:
        st.caption(f"`{outcome.restored}`: Lesson 1's name back, for the same image id.")
    if not downloaded:
        st.caption(
            f"No layer moved: the image's layers are still on this machine under {IRIS.image} "
            "(`docker rmi` removed a name, not the layers), so Docker fetched the manifest, saw "
            "every layer it lists, and only put the name back. Tick the box above to remove "
            f"{IRIS.image} too and see each layer download."
        )
    common.command(done.command, "The command it stands for:")


push_panel = _panel(_show_push)
pull_panel = _panel(_show_pull)


def view_panel(snap: JobSnapshot | None) -> None:
    done = _finished(snap, idle="Push an image above, then read the registry.")
    if done is None:
        return
    st.markdown("**The catalog** (`GET /v2/_catalog`, then `GET /v2/NAME/tags/list` each)")
    st.dataframe(
        pd.DataFrame.from_records(
            [
                {"repository": r, "tags": ", ".join(done.catalog.tags.get(r, ()))}
                for r in done.catalog.repositories
            ]
        ),
        hide_index=True,
        key="registry-catalog",
    )
    cmp = done.comparison
    if cmp is None:
        st.warning(done.problem)
        return
    m = cmp.manifest
    st.markdown(f"**The manifest of `{m.repository}:{m.tag}`** ({m.media_type})")
    if m.index_digest:
        st.caption(
            f"The tag names an index `{m.index_digest}` with entries for {', '.join(m.platforms)}; "
            f"shown is the image manifest for this machine, `{m.digest}` (`unknown/unknown` is "
            "BuildKit's attestation, not an image)."
        )
    cols = st.columns(3)
    cols[0].metric("Layers in the manifest", len(m.layers))
    cols[1].metric("Layers in `docker history`", cmp.history_layers)
    cols[2].metric("RootFS.Layers", cmp.rootfs_layers)
    st.dataframe(
        pd.DataFrame.from_records(
            [
                {
                    "#": r.index,
                    "docker history": r.instruction,
                    "diff id (RootFS.Layers, uncompressed)": r.diff_id[:19],
                    "blob digest (manifest, compressed)": r.digest[:19],
                    "compressed": theme.fmt_bytes(r.size),
                }
                for r in cmp.rows
            ]
        ),
        hide_index=True,
        key="registry-layers",
    )
    st.markdown(
        "- A **diff id** is the sha256 of a layer's *uncompressed* tar: `docker image inspect` "
        "lists them under RootFS.Layers, and they make the image id.\n"
        "- A **blob digest** is the sha256 of the *compressed* tar the registry stores and a pull "
        "downloads: the manifest lists those. The same layer, two hashes.\n"
        f"- A **tag** (`{m.repository}:{m.tag}`) is a name that can move to another image with the "
        f"next push. A **digest** (`{m.repository}@{m.digest[:19]}…`) is the hash of the manifest "
        "itself: it always means these exact bytes, so production pins images by digest."
    )
    with st.expander("Why? (when the two hashes are the same)"):
        st.caption(
            "A graph-driver daemon (overlay2) compresses each layer at push time; the containerd "
            "image store keeps the compressed blob it pulled or built, and a layer it imported "
            "may stay uncompressed, when both hashes are the same."
        )
    st.markdown("**`RepoDigests`** of the image (`docker image inspect`), next to its id:")
    st.code("\n".join([f"Id: {cmp.image_id}", *cmp.repo_digests]), language="text")
    with st.expander("The manifest as the registry sent it"):
        st.code(m.raw, language="json")


def _push_step(
    lab: labs.Lab, key: JobKey, label: str, button: str, enabled: bool, why: str = ""
) -> None:
    common.command(reg.push_command(lab.image), "This button runs:")
    if why:
        st.caption(why)
    if st.button(label, key=button, disabled=not enabled):
        state.start(key, tasks.registry_push(lab.name), f"push {lab.image}")
    common.live(key, push_panel)


def render() -> None:
    common.header(
        T.TITLE_REGISTRY,
        "A **registry** stores images so other machines can `docker pull` them: Docker Hub, a "
        "company's private registry, or one on this machine. Here the real registry program "
        f"runs in a container on `{reg.ADDRESS}`; you push `{IRIS.image}` to it, remove it "
        "locally, pull it back and run it.",
    )
    guide.progress("registry")

    # ---------------------------------------------------------------- 1. start
    st.header("1. Start a local registry")
    st.markdown(
        f"Docker's own `{reg.UPSTREAM_IMAGE}` image where it can be pulled; offline, the same "
        f"program from Debian's `{reg.DEBIAN_PACKAGE}` package, built into `{reg.LOCAL_IMAGE}`. "
        f"Its data lives in the volume `{reg.VOLUME}`. Every Docker daemon trusts `127.0.0.1` "
        "without TLS, so no `insecure-registries` setting is needed."
    )
    common.command(f"docker pull {reg.UPSTREAM_IMAGE}\n{reg.run_command(reg.UPSTREAM_IMAGE)}")
    current = state.registry_state()
    if current.running:
        st.caption(current.sentence)
    else:
        st.info(current.sentence, icon=":material/info:")
    if st.button(T.REGISTRY_UP, key="registry-up", type="primary", icon=":material/dns:"):
        state.start(UP_KEY, tasks.registry_up(), "start the registry")
    common.live(UP_KEY, up_panel)

    # ---------------------------------------------------------------- 2. push
    st.header("2. Tag and push")
    st.markdown(
        "An image goes to the registry its name starts with: `docker tag` gives the image a "
        f"second name, `{reg.registry_ref(IRIS.image)}`, and `docker push` uploads each layer "
        "the registry lacks."
    )
    _push_step(IRIS, PUSH_KEY, T.REGISTRY_PUSH, "registry-push-1", current.running)
    st.markdown(
        f"Now a second image built on the same base, `{MULTI.image}` (Lesson 3; built first "
        "if missing): its base layers are in the registry already."
    )
    # The second push shows "Layer already exists" only after the first one is done: it waits.
    first = state.snapshot(PUSH_KEY)
    first_done = first is not None and first.ok
    wait = ""
    if current.running and not first_done:
        wait = (
            f"Wait until the {IRIS.image} push above is done: this push then finds the shared "
            "base layers in the registry already."
            if first is not None and first.running
            else f"Push {IRIS.image} above first: this push then finds the shared base layers "
            "in the registry already."
        )
    _push_step(
        MULTI,
        PUSH2_KEY,
        T.REGISTRY_PUSH_SECOND,
        "registry-push-2",
        current.running and first_done,
        wait,
    )

    # ---------------------------------------------------------------- 3. read the registry
    st.header("3. What the registry holds: tags and digests")
    common.command(
        "\n".join(
            [
                reg.api_command("/v2/_catalog"),
                reg.api_command(f"/v2/{reg.repository_of(reg.registry_ref(IRIS.image))}/tags/list"),
                reg.api_command(
                    f"/v2/{reg.repository_of(reg.registry_ref(IRIS.image))}/manifests/1.0"
                ),
                f"docker history {reg.registry_ref(IRIS.image)}",
                "docker image inspect -f '{{.RootFS.Layers}} {{.RepoDigests}}' " + IRIS.image,
            ]
        ),
        "This button reads (the registry's HTTP API, asked from inside its container):",
    )
    if st.button(T.REGISTRY_READ, key="registry-read", disabled=not current.running):
        state.start(VIEW_KEY, tasks.registry_view(IRIS.image), "read the registry")
    common.live(VIEW_KEY, view_panel)

    # ---------------------------------------------------------------- 4. rmi, pull, run
    st.header("4. Remove it here, pull it back, run it")
    target = reg.registry_ref(IRIS.image)
    also = st.checkbox(
        f"Also `docker rmi {IRIS.image}`, so the pull downloads every layer",
        key="registry-rmi-source",
        help=f"The pull then tags {target} as {IRIS.image} again (the same image). Docker "
        "refuses while a container made from it exists; the classic builder's cache of "
        "Lesson 1 goes with the image.",
    )
    cols = st.columns(3)
    with cols[0]:
        rmi = reg.rmi_command(IRIS.image) + (f"\ndocker rmi {IRIS.image}" if also else "")
        common.command(rmi)
        if st.button(T.REGISTRY_RMI, key="registry-rmi"):
            state.start(RMI_KEY, tasks.registry_rmi(IRIS.image, also), f"docker rmi {target}")
    with cols[1]:
        common.command(reg.pull_command(IRIS.image))
        if st.button(T.REGISTRY_PULL, key="registry-pull", disabled=not current.running):
            state.start(PULL_KEY, tasks.registry_pull(IRIS.image), f"docker pull {target}")
    with cols[2]:
        common.command(runs.docker_run_command(target))
        if st.button(T.REGISTRY_RUN, key="registry-run"):
            state.start(RUN_KEY, tasks.run_image(target, reg.PULLED_LAB), f"run {target}")
    common.live(RMI_KEY, views.action_panel)
    common.live(PULL_KEY, pull_panel)
    common.live(RUN_KEY, views.run_panel)

    # ---------------------------------------------------------------- 5. stop
    st.header("5. Stop the registry")
    volume = st.checkbox(
        f"Also remove the volume {reg.VOLUME} (the pushed images)", key="registry-volume"
    )
    common.command(reg.down_command(volume), "This button runs:")
    if st.button(T.REGISTRY_DOWN, key="registry-down", disabled=not current.exists):
        state.start(DOWN_KEY, tasks.registry_down(volume), "stop the registry")
    common.live(DOWN_KEY, down_panel)


def down_panel(snap: JobSnapshot | None) -> None:
    done = common.outcome(snap)
    if done is None:
        return
    if state.registry_state().exists:  # started again since: this stop is past
        st.caption(f"At {_clock(snap.finished_at)}: {' '.join(done.lines)}")
    else:
        st.success(" ".join(done.lines), icon=":material/check_circle:")
    common.command(done.command, "The commands it stands for:")


shell.run_page(render, __file__)
