"""The unmodified Prefect CLI and client against ``pushpool server`` (issue 18).

Prefect lives in a virtualenv of its own (never a dependency of pushpool):
``.ci/run`` builds it from ``.ci/prefect.lock`` and sets ``PUSHPOOL_PREFECT``
to its ``prefect`` executable. Without it these tests skip, except in CI
(``CI=true``), where they fail.

One ``pushpool server`` subprocess per store (SQLite; DynamoDB on a
``ThreadedMotoServer`` in this process), without auth, on loopback, serves the
whole module; each test uses its own names.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pushpool import Client
from tests.contract.backends import (
    create_dynamodb_table,
    running_moto_server,
    use_moto_environment,
)
from tests.servers import ServerProcess

CLIENT_SCRIPT = Path(__file__).with_name("prefect_client_script.py")


def find_prefect() -> Path | None:
    given = os.environ.get("PUSHPOOL_PREFECT")
    if given and Path(given).is_file():
        return Path(given)
    return None


@pytest.fixture(scope="session")
def prefect_bin() -> Path:
    found = find_prefect()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Prefect is not installed; .ci/run installs it and sets PUSHPOOL_PREFECT")
        pytest.skip("Prefect is not installed (CI installs it; see .ci/run and PUSHPOOL_PREFECT)")
    return found


@dataclass
class Prefect:
    """Runs Prefect's CLI and Python (its own virtualenv) against one pushpool."""

    bin: Path
    api_url: str
    home: Path

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PUSHPOOL_"))}
        return keep | {
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.home),
            "PREFECT_CLI_PROMPT": "false",
            "COLUMNS": "200",
        }

    def cli(self, *args: str, code: int = 0) -> str:
        done = subprocess.run(
            [str(self.bin), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == code, f"prefect {' '.join(args)} -> {done.returncode}\n{output}"
        if code == 0:
            assert "Traceback" not in output, output
        return output

    def script(self, *args: str) -> dict:
        python = self.bin.with_name("python")
        done = subprocess.run(
            [str(python), str(CLIENT_SCRIPT), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


def _serve(store_url: str, tmp: Path) -> Iterator[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PUSHPOOL_")}
    log = tmp / "server.log"
    with ServerProcess(store=store_url, env=environment, log=log, start_timeout=60) as server:
        yield server.url


@pytest.fixture(scope="module", params=["sqlite", "dynamodb"])
def pushpool_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp(f"pushpool-{request.param}")
    if request.param == "sqlite":
        yield from _serve(f"sqlite:///{tmp / 'pushpool.db'}", tmp)
        return
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server's access log
    with pytest.MonkeyPatch.context() as patch, running_moto_server() as endpoint:
        use_moto_environment(patch, endpoint=endpoint)  # the server subprocess inherits it
        yield from _serve(create_dynamodb_table(), tmp)


@pytest.fixture(scope="module")
def prefect(prefect_bin: Path, pushpool_url: str, tmp_path_factory: pytest.TempPathFactory):
    return Prefect(bin=prefect_bin, api_url=pushpool_url, home=tmp_path_factory.mktemp("prefect"))


@pytest.fixture
def api(pushpool_url: str) -> Iterator[Client]:
    with Client(pushpool_url, timeout=10) as client:
        yield client
