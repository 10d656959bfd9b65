"""What a deployment's ``entrypoint`` runs: ``path/to/file.py:function``, as in
prefect.yaml, becomes a command that loads the file and calls the function
with the run's parameters (issue 18).

The command is ``python3 -c RUNNER ENTRYPOINT``: the runner below uses only
Python's standard library, so it works in any image or process that has
Python 3, without pushpool (or Prefect) installed there. A Prefect ``@flow``
is a callable and runs as such; if its module imports a package the job's
environment lacks (Prefect itself, say), the run ends FAILED with a message
naming that package, reported by the runner through the run's own token.
An entrypoint that is not ``file.py:function`` is a command, run as written.
"""

from __future__ import annotations

import re
import shlex

PYTHON = "python3"

# file.py:function, or file.py:Class.method; no spaces (a shell command has them).
_ENTRYPOINT = re.compile(r"^[^\s:]+\.py:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")

RUNNER = r"""
import importlib.util, json, os, sys, traceback, urllib.request
entry = sys.argv[1]
path, _, qualname = entry.rpartition(":")

def fail(message):
    print(message, file=sys.stderr, flush=True)
    api, run = os.environ.get("PUSHPOOL_API_URL"), os.environ.get("PUSHPOOL_FLOW_RUN_ID")
    if api and run:
        token = os.environ.get("PUSHPOOL_RUN_TOKEN")
        body = {"state": {"type": "FAILED", "message": message[-2000:]}}
        request = urllib.request.Request(
            f"{api}/flow_runs/{run}/set_state", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except Exception as exc:
            print(f"pushpool: could not report the failure: {exc}", file=sys.stderr)
    sys.exit(1)

try:
    spec = importlib.util.spec_from_file_location("__pushpool_flow__", path)
    if spec is None:
        fail(f"entrypoint {entry}: {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec.loader.exec_module(module)
except FileNotFoundError:
    fail(f"entrypoint {entry}: there is no {path} in {os.getcwd()}; "
         "set the working_dir job variable (or the image's working directory)")
except ModuleNotFoundError as exc:
    hint = ""
    if (exc.name or "").split(".")[0] == "prefect":
        hint = "; a Prefect flow needs Prefect installed where the job runs (pushpool does not)"
    fail(f"entrypoint {entry}: {path} imports {exc.name!r}, which is not installed "
         f"in the job's Python ({sys.executable}){hint}")
except BaseException as exc:
    fail(f"entrypoint {entry}: loading {path} raised "
         f"{''.join(traceback.format_exception_only(exc)).strip()}")
function = module
for part in qualname.split("."):
    function = getattr(function, part, None)
if not callable(function):
    fail(f"entrypoint {entry}: {path} defines no function {qualname!r}")
try:
    parameters = json.loads(os.environ.get("PUSHPOOL_PARAMETERS") or "{}")
    result = function(**parameters)
except BaseException as exc:
    traceback.print_exc()
    fail(f"{qualname} raised {''.join(traceback.format_exception_only(exc)).strip()}")
if result is not None:
    print(f"{qualname} returned {result!r}", flush=True)
"""


def is_function_entrypoint(entrypoint: str) -> bool:
    return _ENTRYPOINT.match(entrypoint.strip()) is not None


def entrypoint_command(entrypoint: str) -> str:
    """The command that runs ``entrypoint``: the runner for ``file.py:function``,
    the entrypoint itself otherwise."""
    if not is_function_entrypoint(entrypoint):
        return entrypoint
    return shlex.join([PYTHON, "-c", RUNNER.strip(), entrypoint.strip()])
