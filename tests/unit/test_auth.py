"""API tokens: parsing, authentication, scopes, and the refusal to serve beyond loopback."""

from __future__ import annotations

import pytest

from synapse.auth import (
    OPEN,
    TokenConfigError,
    authenticate,
    check_exposure,
    is_loopback,
    parse_tokens,
)


def test_parse_the_design_example() -> None:
    admin, member = parse_tokens("s3cret-admin:admin,m3mber:member:proj-a|proj-b")
    assert admin.principal.is_admin and admin.principal.project_scope is None
    assert member.principal.role == "member"
    assert member.principal.projects == {"proj-a", "proj-b"}
    assert member.principal.sees("proj-a") and not member.principal.sees("proj-c")
    assert not member.principal.sees(None)  # system-wide jobs are for admins
    assert "s3cret" not in admin.principal.id and admin.principal.id.startswith("admin-")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("x:boss", "role must be admin or member"),
        ("lonely", "TOKEN:ROLE"),
        (":admin", "TOKEN:ROLE"),
        ("m:member", "needs its projects"),
        ("a:admin:b:c", "TOKEN:ROLE"),
    ],
)
def test_malformed_entries_are_refused(raw: str, words: str) -> None:
    with pytest.raises(TokenConfigError, match=words):
        parse_tokens(raw)


def test_authenticate() -> None:
    entries = parse_tokens("one:admin, two:member:p")
    assert authenticate(entries, "one") == entries[0].principal
    assert authenticate(entries, "two") == entries[1].principal
    assert authenticate(entries, "three") is None
    assert authenticate(entries, None) is None
    assert authenticate(entries, "") is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("10.1.2.3", False), ("example.org", False), ("::", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposure_needs_tokens_beyond_loopback() -> None:
    check_exposure("127.0.0.1", [])
    check_exposure("0.0.0.0", parse_tokens("t:admin"))
    with pytest.raises(TokenConfigError, match="SYNAPSE_API_TOKENS"):
        check_exposure("0.0.0.0", [])
    assert OPEN.is_admin and OPEN.open
