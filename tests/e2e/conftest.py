"""Fixtures for the browser tests (see tests/e2e/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    Ui,
    open_ui,
    require_browser,
    start_server,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One open `pushpool server --with-worker` per test module (process pools run here)."""
    require_browser()
    running = start_server(tmp_path_factory.mktemp("ui") / "pushpool.db", "--with-worker")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def ui(browser: Any, server: Server) -> Iterator[Ui]:
    """A fresh browser context on the server; fails the test on any console error."""
    with open_ui(browser, server) as session:
        yield session


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with server.api() as client:
        yield client


@pytest.fixture
def docs_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / "screenshots"
