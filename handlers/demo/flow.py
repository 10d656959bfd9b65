"""The example flow ``pushpool demo`` deploys: a script a process pool runs.

It uses only the standard library and what pushpool injects into every job
(design §4): ``PUSHPOOL_API_URL``, ``PUSHPOOL_FLOW_RUN_ID``,
``PUSHPOOL_RUN_TOKEN`` (scoped to this run) and ``PUSHPOOL_PARAMETERS``.
It reports RUNNING itself, works for ``seconds``, and exits 0, or 1 when
``fail`` is set; pushpool maps the exit code to COMPLETED or FAILED.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request


def report_running(api_url: str, run_id: str, token: str) -> None:
    body = json.dumps({"state": {"type": "RUNNING", "message": "The demo flow started."}})
    request = urllib.request.Request(
        f"{api_url}/flow_runs/{run_id}/set_state",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read() or b"{}")
        if answer.get("status") != "ACCEPT":
            print(f"RUNNING was not accepted: {answer.get('details')}", file=sys.stderr)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"could not report RUNNING: {exc}", file=sys.stderr)


def main() -> int:
    parameters = json.loads(os.environ.get("PUSHPOOL_PARAMETERS") or "{}")
    api_url = os.environ.get("PUSHPOOL_API_URL", "")
    run_id = os.environ.get("PUSHPOOL_FLOW_RUN_ID", "")
    token = os.environ.get("PUSHPOOL_RUN_TOKEN", "")
    if api_url and run_id:
        report_running(api_url, run_id, token)
    time.sleep(float(parameters.get("seconds", 1.0)))
    if parameters.get("fail"):
        print("failing on purpose, as the demo asked", file=sys.stderr)
        return 1
    print(f"done after {parameters.get('seconds', 1.0)} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
