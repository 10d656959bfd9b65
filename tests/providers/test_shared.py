"""The helpers providers share: names from keys, common configuration keys, memo."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus
from providers.shared import (
    TerminalMemo,
    command_list,
    dns_name,
    flag,
    retryable_http_status,
    string_map,
)

DNS_LABEL = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@given(st.text(min_size=1, max_size=200))
def test_any_key_becomes_a_valid_dns_label_without_double_hyphens(key: str):
    name = dns_name(key)
    assert DNS_LABEL.match(name), name
    assert "--" not in name
    assert dns_name(key) == name


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_different_keys_get_different_names(first: str, second: str):
    if first != second:
        assert dns_name(first) != dns_name(second)


def test_a_clean_short_key_is_kept_readable():
    key = "0b7c1e52-6a0f-4c5e-9a61-3f0d7c2b9e11-2"
    assert dns_name(key) == f"pp-{key}"


def test_commands_split_like_a_shell_and_lists_pass_through():
    assert command_list("python -m 'my flow'") == ["python", "-m", "my flow"]
    assert command_list(["a", 1]) == ["a", "1"]
    assert command_list(None) == command_list("") == []
    with pytest.raises(InfrastructureError):
        command_list(42)


def test_env_and_labels_become_sorted_text_without_nulls():
    assert string_map({"b": 1, "a": True, "c": None}, what="env") == {"a": "true", "b": "1"}
    with pytest.raises(InfrastructureError, match="env must be an object"):
        string_map(["A=1"], what="env")


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("False", False), (1, True)])
def test_flags_rendered_as_text_are_read_as_booleans(value: object, expected: bool):
    assert flag(value) is expected


@pytest.mark.parametrize(
    ("code", "retryable"), [(None, True), (408, True), (429, True), (503, True), (400, False)]
)
def test_http_statuses_worth_a_retry(code: int | None, retryable: bool):
    assert retryable_http_status(code) is retryable


def test_the_memo_keeps_only_terminal_statuses_and_forgets_the_oldest():
    memo = TerminalMemo(size=2)
    memo.remember("running", InfraStatus(phase=InfraPhase.RUNNING))
    for name in ("a", "b", "c"):
        memo.remember(name, InfraStatus(phase=InfraPhase.EXITED, exit_code=0))

    assert memo.get("running") is None
    assert memo.get("a") is None
    assert memo.get("c") == InfraStatus(phase=InfraPhase.EXITED, exit_code=0)
