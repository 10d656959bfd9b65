"""How pushpool's own log lines look, the same on Lambda and on a laptop.

Every line of the ``pushpool`` loggers carries the correlation keys in
effect (``log_context(run_id=..., pool=..., attempt=...)``), so one run can
be followed across the API, the dispatcher and the worker.  On Lambda, and
with ``pushpool server --log-format json``, a line is one JSON object in
Powertools' structure (``level``, ``location``, ``message``, ``timestamp``,
``service`` and the keys), which CloudWatch Logs Insights queries by field;
the default for people is one readable line with the keys at the end.

Expected faults (a provider refusing, a missing credential) are logged as
one line with the run and the reason by the code that meets them; only bugs
carry a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

LOGGER = "pushpool"
CONTEXT_KEYS = ("run_id", "pool", "attempt")
SERVICE = "pushpool"

_context: ContextVar[dict[str, Any]] = ContextVar("pushpool_log_context", default={})  # noqa: B039 (never mutated)


@contextmanager
def log_context(**keys: Any) -> Iterator[None]:
    """Add correlation keys to every line logged inside the block (this thread)."""
    token = _context.set({**_context.get(), **{k: v for k, v in keys.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    """``2026-12-04 12:00:00,123 WARNING pushpool.dispatch: message  run_id=… pool=…``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        keys = [f"{k}={getattr(record, k)}" for k in CONTEXT_KEYS if hasattr(record, k)]
        return f"{text}  {' '.join(keys)}" if keys else text


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler this module installs (configuring again replaces it).

    Without an explicit stream it writes to whatever ``sys.stdout`` is at the
    time of each line, so a replaced stdout (a test capturing output, a
    redirected server) is followed instead of writing to a closed one.
    """

    def __init__(self, stream: TextIO | None, *, stderr: bool) -> None:
        super().__init__(stream)
        self._fixed = stream
        self._stderr = stderr

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = self._fixed or (sys.stderr if self._stderr else sys.stdout)
        super().emit(record)


def configure_logging(
    *,
    json_lines: bool,
    level: str = "INFO",
    stream: TextIO | None = None,
    stderr: bool = False,
    propagate: bool = True,
) -> logging.Logger:
    """Send the ``pushpool`` loggers to ``stream`` (stdout, or ``stderr``) in one format.

    Idempotent: a second call replaces the handler (a warm Lambda calls it per
    invocation).  On Lambda ``propagate=False`` keeps the runtime's handler on
    the root logger from printing each line a second time.
    """
    logger = logging.getLogger(LOGGER)
    for old in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(old)
    handler = _Handler(stream, stderr=stderr)
    formatter: logging.Formatter = (
        LambdaPowertoolsFormatter(service=SERVICE) if json_lines else TextFormatter()
    )
    handler.setFormatter(formatter)
    handler.addFilter(_ContextFilter())
    logger.addHandler(handler)
    logger.propagate = propagate
    names = logging.getLevelNamesMapping()
    logger.setLevel(level.upper() if level.upper() in names else "INFO")
    return logger
