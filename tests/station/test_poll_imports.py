"""`hotline mail poll --once` starts quickly (issue 12 §3): wiring the service with the learned screening
layer off imports neither numpy (the learned layer's) nor a chat channel's library."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "telegram", "linebot", "matplotlib", "PIL")


def test_the_service_wiring_imports_no_heavy_library_it_may_not_use() -> None:
    probe = (
        "import json, sys; import hotline.cli, hotline.app, hotline.station.sink, hotline.mailbox.fetcher; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
