"""pushpool's log lines: readable by default, JSON with the correlation keys on demand."""

from __future__ import annotations

import io
import json
import logging

from typer.testing import CliRunner

from handlers.cli.main import app
from handlers.observability import configure_logging, log_context


def emit(*, json_lines: bool) -> str:
    out = io.StringIO()
    configure_logging(json_lines=json_lines, stream=out, propagate=False)
    try:
        log = logging.getLogger("pushpool.dispatch")
        with log_context(pool="etl", run_id="r-1"):
            log.warning("flow run r-1 crashed: %s", "quota", extra={"attempt": 2})
        log.info("outside any run")
    finally:
        configure_logging(json_lines=False, stream=io.StringIO(), propagate=True)
    return out.getvalue()


def test_json_lines_carry_level_message_and_the_correlation_keys():
    first, second = (json.loads(line) for line in emit(json_lines=True).splitlines())
    assert first["level"] == "WARNING"
    assert first["message"] == "flow run r-1 crashed: quota"
    assert (first["run_id"], first["pool"], first["attempt"]) == ("r-1", "etl", 2)
    assert first["service"] == "pushpool" and "timestamp" in first and "location" in first
    assert "run_id" not in second and second["message"] == "outside any run"


def test_text_lines_are_readable_with_the_keys_at_the_end():
    first, second = emit(json_lines=False).splitlines()
    assert " WARNING pushpool.dispatch: flow run r-1 crashed: quota  " in first
    assert first.endswith("run_id=r-1 pool=etl attempt=2")
    assert second.endswith("INFO pushpool.dispatch: outside any run")


def test_configuring_twice_keeps_one_handler():
    out = io.StringIO()
    configure_logging(json_lines=True, stream=out, propagate=False)
    configure_logging(json_lines=True, stream=out, propagate=False)
    logging.getLogger("pushpool.x").warning("once")
    configure_logging(json_lines=False, stream=io.StringIO(), propagate=True)
    assert len(out.getvalue().splitlines()) == 1


def test_the_server_refuses_an_unknown_log_format_in_one_line():
    result = CliRunner().invoke(app, ["server", "--log-format", "xml"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "xml" in result.output
