"""The harness for the UI's browser tests: `pushpool server` in a subprocess,
headless Chromium through Playwright, and a `Ui` that watches the console.

Chromium is Debian's package (``/usr/bin/chromium``); Playwright never
downloads a browser here.  Without Playwright or Chromium the tests skip,
unless ``PUSHPOOL_REQUIRE_BROWSER`` is set (CI sets it), when they fail.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = os.environ.get("PUSHPOOL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDE, NARROW = 1280, 390
_HTTP_ERROR = re.compile(r"the server responded with a status of (\d{3})")


def require_browser() -> None:
    """Skip (or, in CI, fail) when Playwright or Chromium is missing."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "playwright is not installed (the test extra installs it)"
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if problem:
        if os.environ.get("PUSHPOOL_REQUIRE_BROWSER"):
            pytest.fail(problem)
        pytest.skip(problem)


@dataclass
class Server:
    """`python -m handlers.cli server` on a free loopback port (see tests/servers.py)."""

    process: ServerProcess
    store_url: str

    @property
    def url(self) -> str:
        """The site root, e.g. http://127.0.0.1:41234."""
        return self.process.site_url

    @property
    def api_url(self) -> str:
        return self.process.url

    def api(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=15)

    def stop(self) -> None:
        self.process.stop()


def start_server(store: Path, *extra: str) -> Server:
    store_url = f"sqlite:///{store}"
    process = ServerProcess(
        *extra,
        store=store_url,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        log=store.with_suffix(".log"),
        start_timeout=45,
    )
    return Server(process=process, store_url=store_url)


@dataclass
class Ui:
    """One browser page on the server, recording every console error."""

    page: Any
    server: Server
    errors: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)
    allowed_texts: list[str] = field(default_factory=list)

    def go(self, route: str) -> None:
        """Open a hash route ("/pools/x") and wait for its heading."""
        self.page.goto(f"{self.server.url}/#{route}")
        self.page.locator("main h1").first.wait_for()

    def allow_status(self, *statuses: int) -> None:
        """HTTP errors this test provokes on purpose (Chromium logs each as a console error)."""
        self.allowed_statuses.update(statuses)

    def allow_text(self, text: str) -> None:
        """Console errors containing ``text`` are expected (a refused connection, say)."""
        self.allowed_texts.append(text)

    def unexpected_errors(self) -> list[str]:
        kept = []
        for text in self.errors:
            if any(allowed in text for allowed in self.allowed_texts):
                continue
            match = _HTTP_ERROR.search(text)
            if match and int(match.group(1)) in self.allowed_statuses:
                continue
            kept.append(text)
        return kept

    def shot(self, name: str) -> None:
        """Screenshots at 1280 px and 390 px; the narrow one must not scroll sideways."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page = self.page
        page.evaluate("window.scrollTo(0, 0)")  # sticky headers sit where a reader sees them
        page.wait_for_timeout(150)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{WIDE}.png"), full_page=True)
        page.set_viewport_size({"width": NARROW, "height": 844})
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(250)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{NARROW}.png"), full_page=True)
        page.set_viewport_size({"width": WIDE, "height": 900})
        page.wait_for_timeout(150)
        assert overflow <= NARROW, f"{name} scrolls sideways at {NARROW} px ({overflow} px wide)"

    def publish(self, name: str, target: Path) -> None:
        """Copy a 1280 px screenshot into the repository (the README shows it)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOTS / f"{name}-{WIDE}.png", target)


@contextmanager
def open_ui(browser: Any, server: Server) -> Iterator[Ui]:
    """A fresh browser context on ``server``; on a clean exit, no unexpected console errors."""
    context = browser.new_context(viewport={"width": WIDE, "height": 900})
    page = context.new_page()
    ui = Ui(page=page, server=server)
    page.on("console", lambda m: ui.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: ui.errors.append(f"uncaught: {e}"))
    page.set_default_timeout(15_000)
    try:
        yield ui
    finally:
        context.close()
    assert not ui.unexpected_errors(), ui.unexpected_errors()


def expect(target: Any) -> Any:
    """Playwright's auto-waiting ``expect`` (imported late: modules import without Playwright)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def template_of(api: httpx.Client, pool: str) -> dict[str, Any]:
    return api.get(f"/work_pools/{pool}").json()["base_job_template"]  # type: ignore[no-any-return]


def defaults(api: httpx.Client, pool: str) -> dict[str, Any]:
    """The pool's variable defaults, as the form set them."""
    properties = template_of(api, pool)["variables"]["properties"]
    return {k: v["default"] for k, v in properties.items() if "default" in v}


# -- seeding through the API ------------------------------------------------------------


def seed_deployment(
    api: httpx.Client, *, pool: str, name: str, command: str, **body: Any
) -> dict[str, Any]:
    flow = api.post("/flows/", json={"name": "etl"}).json()
    payload = {"name": name, "flow_id": flow["id"], "work_pool_name": pool, "command": command}
    response = api.post("/deployments/", json={**payload, **body})
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def seed_pool(api: httpx.Client, name: str, **body: Any) -> dict[str, Any]:
    response = api.post("/work_pools/", json={"name": name, "type": "process", **body})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
