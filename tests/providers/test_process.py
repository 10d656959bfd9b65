"""The process provider with real subprocesses: what a process pool's worker runs."""

from __future__ import annotations

import io
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job
from providers.process import ProcessProvider, build_request, make_provider
from tests.providers.contract import make_job
from tests.providers.golden_files import assert_golden

PY = sys.executable
TERMINAL = {InfraPhase.EXITED, InfraPhase.CRASHED, InfraPhase.CANCELLED}


def job(configuration: dict[str, Any], *, run_id: str = "run-1", **kwargs: Any) -> Job:
    return make_job(configuration, pool_type="process", run_id=run_id, **kwargs)


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def wait_terminal(provider: ProcessProvider, infra_id: str, timeout: float = 5.0) -> InfraStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = provider.status(infra_id)
        if status.phase in TERMINAL:
            return status
        time.sleep(0.02)
    raise AssertionError(f"{infra_id} still {provider.status(infra_id)} after {timeout}s")


def run(provider: ProcessProvider, configuration: dict[str, Any]) -> tuple[str, InfraStatus]:
    the_job = job(configuration, run_id=str(uuid.uuid4()))
    infra_id = provider.submit(build_request(the_job), idempotency_key=the_job.idempotency_key)
    return infra_id, wait_terminal(provider, infra_id)


def pid_is_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}  # a zombie waiting for init is dead too


@pytest.fixture
def output() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def provider(output: io.StringIO) -> ProcessProvider:
    return make_provider(output=output, grace_seconds=2.0)


# -- build_request --------------------------------------------------------------------


def test_a_string_command_is_split_like_a_shell_and_env_values_become_text():
    request = build_request(
        job(
            {
                "command": "python -m flows.etl --date '2026-01-01 00:00'",
                "env": {"PUSHPOOL_FLOW_RUN_ID": "run-1", "RETRIES": 3, "DEBUG": True, "GONE": None},
                "name": "nightly-etl",
                "labels": {"pushpool.io/flow-run-id": "run-1"},
                "stream_output": True,
                "working_dir": None,
            }
        )
    )
    assert_golden("process_string_command.json", request.as_json())


def test_a_list_command_is_kept_and_working_dir_and_stream_output_pass_through():
    request = build_request(
        job(
            {
                "command": ["python", "-m", "flows.etl"],
                "env": {},
                "stream_output": False,
                "working_dir": "/srv/flows",
            },
            run_name="crimson-fox",
        )
    )
    assert_golden("process_list_command.json", request.as_json())


def test_a_job_without_a_command_is_rejected_as_terminal():
    with pytest.raises(InfrastructureError) as raised:
        build_request(job({"command": "", "env": {}}))
    assert raised.value.retryable is False
    assert "command" in str(raised.value)


def test_an_unbalanced_quote_in_the_command_is_rejected_as_terminal():
    with pytest.raises(InfrastructureError) as raised:
        build_request(job({"command": "echo 'unterminated"}))
    assert raised.value.retryable is False


# -- exit codes, env, working directory -------------------------------------------------


def test_exit_zero_and_exit_one_are_reported_with_their_codes(provider):
    _, ok = run(provider, {"command": py("raise SystemExit(0)")})
    _, failed = run(provider, {"command": py("import sys; print('boom'); sys.exit(1)")})

    assert (ok.phase, ok.exit_code) == (InfraPhase.EXITED, 0)
    assert (failed.phase, failed.exit_code) == (InfraPhase.EXITED, 1)
    assert "boom" in failed.reason


def test_the_child_sees_its_env_and_the_basics_but_not_the_workers_secrets(output):
    provider = make_provider(
        output=output, base_env={"PATH": os.environ["PATH"], "PUSHPOOL_TOKEN": "worker-secret"}
    )
    code = (
        "import os; print(sorted(k for k in os.environ if k != 'LC_CTYPE'), os.environ['GREETING'])"
    )

    _, status = run(provider, {"command": py(code), "env": {"GREETING": "hello"}, "name": "env"})

    assert status.exit_code == 0
    assert "[env] ['GREETING', 'PATH'] hello" in output.getvalue().splitlines()


def test_an_unset_working_dir_is_a_fresh_temporary_directory_removed_afterwards(provider, output):
    code = "import os; print(os.getcwd()); print(os.listdir('.'))"

    _, status = run(provider, {"command": py(code), "name": "tmp"})

    cwd_line, listing_line = output.getvalue().splitlines()
    cwd = cwd_line.removeprefix("[tmp] ")
    assert status.exit_code == 0
    assert "pushpool-run-" in cwd
    assert listing_line == "[tmp] []"
    assert not Path(cwd).exists()


def test_a_given_working_dir_is_used_and_kept(provider, tmp_path):
    code = "open('marker.txt', 'w').write('here')"

    _, status = run(provider, {"command": py(code), "working_dir": str(tmp_path)})

    assert status.exit_code == 0
    assert (tmp_path / "marker.txt").read_text() == "here"


def test_output_is_discarded_from_stdout_when_not_streamed_but_its_tail_is_kept(provider, output):
    _, status = run(
        provider, {"command": py("print('quiet'); raise SystemExit(4)"), "stream_output": False}
    )

    assert output.getvalue() == ""
    assert status.exit_code == 4
    assert status.reason == "last output:\nquiet"


def test_a_missing_program_is_a_terminal_error_and_leaves_no_temporary_directory(provider):
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("pushpool-run-*"))
    request = build_request(job({"command": "/no/such/program --flag"}))

    with pytest.raises(InfrastructureError) as raised:
        provider.submit(request, idempotency_key="run-1-1")

    assert raised.value.retryable is False
    assert "/no/such/program" in str(raised.value)
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("pushpool-run-*")) == before


# -- ids and idempotency ----------------------------------------------------------------


def test_the_id_is_pid_and_start_time_and_the_same_key_returns_it_again(provider):
    request = build_request(job({"command": py("import time; time.sleep(5)")}))

    first = provider.submit(request, idempotency_key="run-1-1")
    second = provider.submit(request, idempotency_key="run-1-1")
    provider.cancel(first)

    pid, start = first.split(":")
    assert second == first
    assert pid.isdigit() and start.isdigit()


def test_a_dead_pid_that_this_provider_did_not_start_is_crashed_as_vanished(provider):
    assert provider.status("999999999:12345") == InfraStatus(
        phase=InfraPhase.CRASHED,
        reason="process 999999999 vanished (not started by this worker, so its exit code is lost)",
    )


def test_a_reused_pid_is_not_mistaken_for_the_original_process(provider):
    live_pid = os.getpid()  # alive, but started at another time than the token says

    assert provider.status(f"{live_pid}:1").phase is InfraPhase.CRASHED


def test_a_restarted_worker_still_sees_and_cancels_a_child_started_before(output):
    before_restart = make_provider(output=output)
    the_job = job({"command": py("import time; time.sleep(30)")})
    infra_id = before_restart.submit(build_request(the_job), idempotency_key="run-1-1")

    after_restart = make_provider(output=output, grace_seconds=2.0)
    assert after_restart.status(infra_id).phase is InfraPhase.RUNNING

    after_restart.cancel(infra_id)
    assert wait_terminal(before_restart, infra_id).exit_code == -signal.SIGTERM
    assert after_restart.status(infra_id).phase is InfraPhase.CRASHED


def test_a_malformed_id_is_a_terminal_error(provider):
    with pytest.raises(InfrastructureError) as raised:
        provider.status("i-0abc")
    assert raised.value.retryable is False


# -- cancel -------------------------------------------------------------------------------


def test_cancel_kills_a_sleeping_child_and_its_grandchildren(provider, output):
    script = "sleep 30 & echo $!; sleep 30 & echo $!; wait"
    the_job = job({"command": ["sh", "-c", script], "name": "tree"})
    infra_id = provider.submit(build_request(the_job), idempotency_key=the_job.idempotency_key)
    deadline = time.monotonic() + 5
    while len(output.getvalue().splitlines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    grandchildren = [int(line.removeprefix("[tree] ")) for line in output.getvalue().splitlines()]

    provider.cancel(infra_id)

    status = wait_terminal(provider, infra_id)
    assert status.phase is InfraPhase.CANCELLED
    assert len(grandchildren) == 2
    assert all(pid_is_gone(pid) for pid in grandchildren)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(output):
    naps: list[float] = []
    provider = make_provider(
        output=output, grace_seconds=0.3, sleep=lambda s: (naps.append(s), time.sleep(s))
    )
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"
    the_job = job({"command": py(stubborn), "name": "stubborn"})
    infra_id = provider.submit(build_request(the_job), idempotency_key=the_job.idempotency_key)
    deadline = time.monotonic() + 5
    while "ready" not in output.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)

    started = time.monotonic()

    provider.cancel(infra_id)

    waited = time.monotonic() - started
    status = wait_terminal(provider, infra_id)
    assert status.phase is InfraPhase.CANCELLED
    assert status.exit_code == -signal.SIGKILL
    assert naps and waited >= 0.3  # it waited out the grace period before escalating


def test_a_child_that_exits_on_sigterm_is_not_escalated(output):
    provider = make_provider(output=output, grace_seconds=5.0)
    polite = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); print('ready', flush=True); time.sleep(30)"
    the_job = job({"command": py(polite)})
    infra_id = provider.submit(build_request(the_job), idempotency_key=the_job.idempotency_key)
    deadline = time.monotonic() + 5
    while "ready" not in output.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()

    provider.cancel(infra_id)

    assert time.monotonic() - started < 2.0
    status = wait_terminal(provider, infra_id)
    assert (status.phase, status.exit_code) == (InfraPhase.CANCELLED, 0)


def test_a_child_killed_by_someone_else_is_crashed_with_the_signal(provider, output):
    the_job = job({"command": py("print('ready', flush=True); import time; time.sleep(30)")})
    infra_id = provider.submit(build_request(the_job), idempotency_key=the_job.idempotency_key)
    deadline = time.monotonic() + 5
    while "ready" not in output.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)

    os.kill(int(infra_id.split(":")[0]), signal.SIGKILL)  # what the OOM killer does

    status = wait_terminal(provider, infra_id)
    assert status.phase is InfraPhase.CRASHED
    assert status.reason == "killed by signal SIGKILL"


def test_cancelling_a_finished_child_changes_nothing(provider):
    infra_id, status = run(provider, {"command": py("pass")})

    provider.cancel(infra_id)

    assert provider.status(infra_id) == status
