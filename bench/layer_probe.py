"""One layer analysis in a process of its own, so its peak memory is its own.

`python -m bench.layer_probe IMAGE [METHOD]` reads every layer's file list of IMAGE
(layerfiles.image_files: METHOD "save" through `docker save`, "overlay2" from the daemon's
overlay2 layer store, "containerd" from containerd's content store, "auto" the dashboard's
choice), computes wasted space and efficiency (layerfiles.efficiency) and prints one JSON object:
the time of each part, the path used and the process's peak resident memory.
"""

from __future__ import annotations

import json
import sys
import time


def peak_rss_bytes() -> int:
    """This process's resident high-water mark (VmHWM). Not getrusage's ru_maxrss: Linux keeps
    that across exec, so a probe started by a large process (the bench) reported the bench's."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def probe(ref: str, method: str = "auto") -> dict:
    started = time.perf_counter()
    from dashboard.engine.analysis import layerfiles
    from dashboard.engine.analysis.layerfiles import efficiency
    from dashboard.engine.base.connection import connect

    client = connect()
    ready = time.perf_counter()
    files = layerfiles.image_files(client, ref, method=method)
    listed = time.perf_counter()
    report = efficiency.efficiency(files.layers)
    done = time.perf_counter()
    return {
        "image": ref,
        "method": method,
        "source": files.source,
        "fallback_reason": files.fallback_reason,
        "startup_s": ready - started,
        "save_s": files.save_seconds,
        "read_s": files.read_seconds,
        "efficiency_s": done - listed,
        "analysis_s": (listed - ready) + (done - listed),
        "analysis_without_save_s": files.read_seconds + (done - listed),
        "peak_rss_bytes": peak_rss_bytes(),
        "archive_bytes": files.archive_bytes,
        "layers": len(files.layers),
        "entries": sum(len(layer.entries) for layer in files.layers),
        "score": report.score,
        "wasted_bytes": report.wasted_bytes,
        "removed_files": report.removed_files,
        "inefficient_paths": report.inefficient_paths,
    }


if __name__ == "__main__":
    print(json.dumps(probe(*sys.argv[1:3])))
