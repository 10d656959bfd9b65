"""Log levels on Lambda.

Lambda's Python runtime puts its handler on the root logger and leaves the
root at WARNING, so the functions' summaries (what a tick sent, what a pass
submitted) would vanish.  pushpool's own loggers get ``LOG_LEVEL`` (or
Powertools' ``POWERTOOLS_LOG_LEVEL``), INFO by default; other libraries keep
the runtime's level.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

LOGGER = "pushpool"


def configure(env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    level = (env.get("LOG_LEVEL") or env.get("POWERTOOLS_LOG_LEVEL") or "INFO").upper()
    logging.getLogger(LOGGER).setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
