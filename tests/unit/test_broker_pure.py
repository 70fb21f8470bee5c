"""Reading task ids out of kombu's Redis messages."""

from __future__ import annotations

import json

from synapse.jobs.broker import message_id, unacked_message_id


def test_message_id_from_headers_or_correlation_id() -> None:
    assert message_id(json.dumps({"headers": {"id": "a"}, "properties": {}})) == "a"
    assert message_id(json.dumps({"headers": {}, "properties": {"correlation_id": "b"}})) == "b"
    assert message_id(b'{"headers": {"id": "c"}}') == "c"


def test_anything_else_has_no_id() -> None:
    for raw in (b"not json", b"[1, 2]", b"{}", json.dumps({"headers": {"id": 5}}), b"null"):
        assert message_id(raw) is None, raw


def test_unacked_entries_are_message_exchange_key_triples() -> None:
    entry = json.dumps([{"headers": {"id": "d"}}, "", "default"])
    assert unacked_message_id(entry) == "d"
    assert unacked_message_id(b"{}") is None
    assert unacked_message_id(b"[]") is None
    assert unacked_message_id(b"garbage") is None
