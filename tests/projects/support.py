"""The sample Prefect project and the local stack it runs on (`pushpool server
--with-worker`, in process), for the tests that apply and run it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handlers.cli.main import app
from handlers.local.server import BackgroundServer, build
from pushpool import Client

ETL = Path(__file__).resolve().parent / "etl"


@contextmanager
def local_stack(tmp_path: Path) -> Iterator[Client]:
    stack = build(
        port=0, store_url=f"sqlite:///{tmp_path / 'local.db'}", with_worker=True, tick_seconds=1.0
    )
    server = BackgroundServer(stack.container, stack.sock)
    server.start()
    stack.loops.start()
    try:
        with Client(stack.url, timeout=10) as client:
            yield client
    finally:
        stack.loops.stop()
        server.stop()


def copy_etl(tmp_path: Path) -> Path:
    """A copy of the sample project, as a user's checkout would be."""
    return Path(shutil.copytree(ETL, tmp_path / "etl"))


def apply(api: Client, path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``pushpool deployment apply PATH`` against ``api``; its output."""
    monkeypatch.setenv("PUSHPOOL_API_URL", api.api_url)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("PUSHPOOL_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["deployment", "apply", str(path)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output
