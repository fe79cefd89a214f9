"""The dashboard: `streamlit run dashboard/app.py`.

One page per lesson of the lecture (dashboard/pages/), a sidebar with the daemon's status, and
a "Docker is not reachable" page in place of the lessons when the daemon cannot be reached.
Pages render inside an error boundary, so Docker's refusals appear as messages. The frame
(navigation, theme, sidebar) is in dashboard/ui/shell.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

from dashboard.ui import shell  # noqa: E402

shell.main()
