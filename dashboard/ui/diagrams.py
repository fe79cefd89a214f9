"""Graphviz diagrams (DOT text, drawn in the browser by st.graphviz_chart). Pure: no Streamlit.

The colours are the shared ones from theme.py.
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

from dashboard.ui import theme

_NODE = 'node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=14, '
_GRAPH = 'graph [fontname="Helvetica", fontsize=14, nodesep=0.4, ranksep=0.5];'


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def docker_flow() -> str:
    """Dockerfile -> build -> image -> run -> container; registry pull/push; daemon; volumes."""
    blue, green, grey = theme.RUNNING, theme.CACHED, theme.BASE
    return f"""
digraph docker {{
  rankdir=LR; {_GRAPH}
  {_NODE}color="#555555", fontcolor="white"];
  edge [fontname="Helvetica", fontsize=12];
  cli [label="you: docker CLI\\n(or this dashboard)", fillcolor="{grey}"];
  dockerfile [label="Dockerfile\\n(instructions)", fillcolor="{grey}"];
  subgraph cluster_daemon {{
    label="Docker Engine (the daemon, dockerd)"; labelloc="b"; style="rounded,dashed";
    color="{green}";
    image [label="image\\n(read-only layers)", fillcolor="{blue}"];
    container [label="container\\n(a running process\\n+ a writable layer)", fillcolor="{green}"];
  }}
  registry [label="registry\\n(Docker Hub, company registry)", fillcolor="#9467bd"];
  volume [label="volume / host folder", fillcolor="{grey}"];
  cli -> image [label="REST API over\\n/var/run/docker.sock", style=dashed];
  dockerfile -> image [label="docker build"];
  image -> container [label="docker run"];
  registry -> image [label="docker pull"];
  image -> registry [label="docker push"];
  volume -> container [label="-v host:container", dir=both];
}}
"""


TOOLKIT = (
    "NVIDIA Container Toolkit\\n(nvidia-container-runtime: mounts the host's driver"
    "\\nand the GPU devices into the container)"
)


def gpu_stack() -> str:
    """How a container reaches a GPU: CUDA inside, the toolkit between, the driver on the host."""
    blue, green, grey, orange = theme.RUNNING, theme.CACHED, theme.BASE, theme.EXECUTED
    return f"""
digraph gpu {{
  rankdir=TB; {_GRAPH}
  {_NODE}color="#555555", fontcolor="white"];
  subgraph cluster_container {{
    label="container (docker run --gpus all IMAGE)"; style="rounded,dashed";
    app [label="your training code\\n(PyTorch, TensorFlow, XGBoost...)", fillcolor="{blue}"];
    cuda [label="CUDA libraries\\n(inside the image: each project its own version)",
          fillcolor="{blue}"];
  }}
  toolkit [label="{TOOLKIT}", fillcolor="{orange}"];
  driver [label="NVIDIA driver (on the host only)", fillcolor="{grey}"];
  gpu [label="GPU", fillcolor="{green}"];
  app -> cuda -> toolkit -> driver -> gpu;
}}
"""


def ml_pipeline() -> str:
    """The lecture's CI/CD loop: commit, build, test, push, deploy, monitor, new data, retrain."""
    blue, green, orange, grey = theme.RUNNING, theme.CACHED, theme.EXECUTED, theme.BASE
    steps = [
        ("commit", "commit / merge request\\n(GitHub, GitLab)", grey),
        ("build", "docker build\\n(integration)", blue),
        ("test", "test in the image\\n(docker run ... pytest)", blue),
        ("push", "docker push\\n(registry)", "#9467bd"),
        ("deploy", "deploy: docker pull + run\\non the servers (delivery)", green),
        ("monitor", "monitor the model\\nin production", green),
        ("data", "new data arrives\\n(e.g. new clients)", orange),
        ("retrain", "retrain\\n(a job in a container)", orange),
    ]
    nodes = "\n  ".join(f'{n} [label="{label}", fillcolor="{c}"];' for n, label, c in steps)
    # A circle: the pipeline is a loop (retraining makes the next version).
    return f"""
digraph pipeline {{
  layout=circo; mindist=0.1; {_GRAPH}
  {_NODE}color="#555555", fontcolor="white"];
  edge [fontname="Helvetica", fontsize=13];
  {nodes}
  commit -> build -> test -> push -> deploy -> monitor -> data -> retrain -> commit;
}}
"""


STEP_RE = re.compile(r'^\s*step\s+"([^"]+)"', re.MULTILINE)


def ci_steps(script: str) -> list[str]:
    """The `step "..."` names of a CI script like .ci/run, in order."""
    return STEP_RE.findall(script)


def ci_flow(steps: list[str], per_row: int = 3) -> str:
    """The CI script's steps as a chain, `per_row` boxes to a row (it reads at any width)."""
    colors = [theme.BASE, theme.RUNNING, theme.CACHED, theme.EXECUTED, "#9467bd"]
    nodes = []
    for i, name in enumerate(steps):
        label = f"{i + 1}. {name}"
        nodes.append(f"s{i} [label={_q(label)}, fillcolor={_q(colors[i % len(colors)])}];")
    rows = [list(range(i, min(i + per_row, len(steps)))) for i in range(0, len(steps), per_row)]
    ranks = " ".join("{ rank=same; " + " ".join(f"s{i};" for i in row) + " }" for row in rows)
    edges = " ".join(
        f"s{i} -> s{i + 1}" + (" [constraint=false];" if (i + 1) % per_row == 0 else ";")
        for i in range(len(steps) - 1)
    )
    # Invisible edges stack the rows.
    stack = " ".join(f"s{row[0]} -> s{nxt[0]} [style=invis];" for row, nxt in pairwise(rows))
    return f"""
digraph ci {{
  rankdir=TB; {_GRAPH}
  {_NODE}color="#555555", fontcolor="white"];
  {" ".join(nodes)}
  {ranks}
  {edges}
  {stack}
}}
"""


def read_ci_script(path: Path) -> str:
    return path.read_text() if path.exists() else ""
