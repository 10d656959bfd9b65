"""Logging on Lambda: JSON lines in Powertools' structure, at ``LOG_LEVEL``.

Lambda's Python runtime puts its handler on the root logger and leaves the
root at WARNING, so the functions' summaries (what a tick sent, what a pass
submitted) would vanish.  pushpool's own loggers get a JSON handler on
stdout (``handlers.observability``) at ``LOG_LEVEL`` (or Powertools'
``POWERTOOLS_LOG_LEVEL``), INFO by default; other libraries keep the
runtime's level and format.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from handlers.observability import configure_logging

LOGGER = "pushpool"


def configure(env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    level = env.get("LOG_LEVEL") or env.get("POWERTOOLS_LOG_LEVEL") or "INFO"
    on_lambda = bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))
    configure_logging(json_lines=True, level=level, propagate=not on_lambda)
