"""Webhooks without services: signing, the SSRF guard's address rules and URL handling, the
body of a delivery, the backoff (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import random
from datetime import UTC, datetime

import pytest

from synapse.errors import InvalidInput
from synapse.jobs.retry import backoff
from synapse.webhooks import guard, service, signing


def test_the_signature_is_the_hex_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"event":"job.succeeded","id":"abc"}'
    expected = hmac.new(b"whsec_k", body, hashlib.sha256).hexdigest()
    assert signing.signature("whsec_k", body) == f"sha256={expected}"
    assert signing.verify("whsec_k", body, f"sha256={expected}")
    assert not signing.verify("whsec_k", body + b" ", f"sha256={expected}")
    assert not signing.verify("whsec_other", body, f"sha256={expected}")


def test_secrets_are_long_and_fresh() -> None:
    made = {signing.new_secret() for _ in range(50)}
    assert len(made) == 50 and all(s.startswith("whsec_") and len(s) > 40 for s in made)


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("100.64.0.1", "not globally reachable"),
        ("192.0.2.10", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2001:db8::1", "private"),
    ],
)
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    assert guard.refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert guard.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/hook", "10.0.0.1, a private address"),
        ("https://[::1]:8443/", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("ftp://8.8.8.8/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("http:///nohost", "no host"),
        ("http://8.8.8.8:99999/", "not a valid URL"),
        ("http://8.8.8.8/#frag", "fragment"),
        ("http://" + "a" * 2100, "longer than"),
    ],
)
def test_check_refuses_with_a_detail(url: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        guard.check(url, allow_private=False)
    assert words in str(caught.value)


def test_allow_private_lets_private_addresses_through_but_not_other_schemes() -> None:
    target = guard.check("http://10.0.0.1:8080/in?x=1", allow_private=True)
    assert target.connect_url() == "http://10.0.0.1:8080/in?x=1"
    assert target.host_header == "10.0.0.1:8080"
    with pytest.raises(InvalidInput):
        guard.check("gopher://10.0.0.1/", allow_private=True)


def test_the_target_connects_to_the_checked_address_and_keeps_the_name() -> None:
    target = guard.Target(
        scheme="https",
        host="hooks.example.com",
        port=443,
        path="/a?b=c",
        username="u",
        password="p w",
        address=ipaddress.ip_address("2606:4700::1111"),
    )
    assert target.connect_url() == "https://[2606:4700::1111]:443/a?b=c"
    assert target.host_header == "hooks.example.com"
    public = guard.check("https://user:pa55@8.8.8.8/x", allow_private=False)
    assert (public.username, public.password, public.path) == ("user", "pa55", "/x")


def test_credentials_never_show() -> None:
    assert guard.redacted("https://user:pa55@h.example/x?y=1") == "https://***@h.example/x?y=1"
    assert guard.redacted("https://h.example/x") == "https://h.example/x"


def test_events_are_checked_and_kept_in_order() -> None:
    assert service.checked_events(["job.failed", "job.succeeded"]) == [
        "job.succeeded",
        "job.failed",
    ]
    with pytest.raises(InvalidInput, match="unknown event"):
        service.checked_events(["job.exploded"])
    with pytest.raises(InvalidInput, match="at least one"):
        service.checked_events([])


def test_the_body_is_fixed_json_with_id_event_and_data() -> None:
    at = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    body = service.body_of("d1", "job.failed", at, {"job_id": "j", "error": "boom"})
    assert body == service.body_of("d1", "job.failed", at, {"error": "boom", "job_id": "j"})
    assert json.loads(body) == {
        "id": "d1",
        "event": "job.failed",
        "created_at": "2026-12-01T04:00:00+00:00",
        "data": {"job_id": "j", "error": "boom"},
    }


def test_the_backoff_doubles_up_to_its_cap() -> None:
    rng = random.Random(7)
    delays = [backoff(n, base=10, cap=3600, rng=rng) for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(3600, 10 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling


def test_a_long_wait_is_made_of_hops_shorter_than_half_the_lease() -> None:
    from synapse.config import Settings
    from synapse.webhooks.delivery import hop

    settings = Settings(_env_file=None, visibility_timeout=300)  # type: ignore[call-arg]
    assert hop(settings, 3600) == 150
    assert hop(settings, 12.5) == 12.5
    assert hop(settings, -1) == 0
