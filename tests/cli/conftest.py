from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from handlers.cli.main import app
from tests.api.support import Env

Run = Callable[..., Result]


@pytest.fixture
def cli(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Invoke ``pushpool ARGS`` against the live server; fail loudly on errors
    unless ``code`` says otherwise."""
    monkeypatch.setenv("PUSHPOOL_API_URL", env.api.url)
    monkeypatch.delenv("PUSHPOOL_API_KEY", raising=False)
    monkeypatch.setenv("PUSHPOOL_PROFILE", str(tmp_path / "profile.json"))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Result:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result

    return run


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)
