"""The one log format: text or JSON lines, secrets masked."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from synapse.config import Settings
from synapse.logs import logging_config, redact


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ('127.0.0.1:5 - "WebSocket /ws/logs?token=s3cret" [accepted]', "?token=***"),
        ("GET /ws/logs?job_id=1&token=s3cret HTTP/1.1", "&token=***"),
        ("Authorization: Bearer s3cret.x-y", "Bearer ***"),
        ("broker redis://:s3cret@redis:6379/0", "redis://:***@redis"),
        ("postgresql://synapse:s3cret@postgres:5432/synapse", "synapse:***@postgres"),
        ("FLOWER_BASIC_AUTH=ops:s3cret", "FLOWER_BASIC_AUTH=***"),
    ],
)
def test_secrets_are_masked(line: str, masked: str) -> None:
    out = redact(line)
    assert "s3cret" not in out and masked in out


def records(fmt: str, role: str = "worker") -> list[str]:
    settings = Settings(_env_file=None, log_format=fmt)  # type: ignore[call-arg]
    config = logging_config(settings, role)
    stream = io.StringIO()
    config["handlers"]["stderr"]["stream"] = stream
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logging.config.dictConfig(config)
    try:
        logging.getLogger("uvicorn.error").info("listening on %s?token=%s", "/ws/logs", "abc123")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("synapse.jobs").exception("job failed")
    finally:
        root.handlers, root.level = saved
    return stream.getvalue().splitlines()


def test_json_lines_have_one_shape() -> None:
    lines = [json.loads(line) for line in records("json") if line.startswith("{")]
    assert [r["logger"] for r in lines] == ["uvicorn.error", "synapse.jobs"]
    for record in lines:
        assert set(record) >= {"time", "level", "role", "pid", "logger", "message"}
        assert record["role"] == "worker"
    assert lines[0]["message"] == "listening on /ws/logs?token=***"
    assert "ValueError: boom" in lines[1]["exc"]


def test_text_lines_name_role_and_pid() -> None:
    lines = records("text", role="api")
    assert " INFO api[" in lines[0] and "uvicorn.error: listening on /ws/logs?token=***" in lines[0]
    assert "abc123" not in "\n".join(lines)
