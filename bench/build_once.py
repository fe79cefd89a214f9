"""One engine build as a command of its own, for the whole-process comparison with the CLI.

`python -m bench.build_once FOLDER TAG LAB [--no-cache]` builds FOLDER through the engine
(builds.build) and prints one JSON object: ok, the count of steps that could hit the cache and
the count that did. Exit status 1 when the build failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dashboard.engine import builds
from dashboard.engine.connection import connect


def main(argv: list[str]) -> int:
    folder, tag, lab = argv[:3]
    result = builds.build(
        connect(), Path(folder), tag=tag, lab_name=lab, nocache="--no-cache" in argv[3:]
    )
    steps = [s for s in result.steps if s.status != "base"]
    print(
        json.dumps(
            {
                "ok": result.ok,
                "error": result.error,
                "cacheable": len(steps),
                "cached": sum(1 for s in steps if s.status == "cached"),
                # BuildKit reports a WORKDIR it has seen as cached even under --no-cache
                "cached_workdirs": sum(
                    1
                    for s in steps
                    if result.builder == "buildkit"
                    and s.status == "cached"
                    and s.keyword == "WORKDIR"
                ),
            }
        )
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
