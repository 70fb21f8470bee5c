"""One logging set-up for every process: api (uvicorn), worker and beat (Celery), `synapse up`.

`SYNAPSE_LOG_FORMAT=text` (default) writes `time LEVEL role[pid] logger: message` lines;
`SYNAPSE_LOG_FORMAT=json` writes one JSON object a line (`time`, `level`, `role`, `pid`,
`logger`, `message`, and `job_id`/`task` inside a job, `exc` with a traceback). Every line
passes through `Redact`, which masks API tokens (`?token=…`, `Bearer …`) and URL passwords, so
no secret reaches a log: uvicorn logs WebSocket paths with their query string, for one.

The API hands `logging_config()` to uvicorn (`log_config`, so its worker processes use it too);
Celery processes connect `celery_setup_logging` to Celery's `setup_logging` signal, which makes
Celery leave logging to us, in the worker's main process, in each pool process and in beat.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

from synapse.config import Settings, get_settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(role)s[%(process)d] %(name)s: %(message)s"
_SECRETS = (
    (re.compile(r"(?i)([?&;]token=)[^&\s\"']+"), r"\1***"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"), r"\1***"),
    (re.compile(r"(?i)(basic.auth[=: ]+)[^\s,]+"), r"\1***"),
    (re.compile(r"(\w+://[^:/@\s]*:)[^@\s]+@"), r"\1***@"),
)

_role: str | None = None


def redact(text: str) -> str:
    """Mask tokens and passwords in a log message."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _current_task() -> tuple[str, str] | None:
    """(task id, task name) when this line is logged from inside a Celery task (a job)."""
    state = sys.modules.get("celery._state")
    task = state.get_current_task() if state is not None else None
    if task is None or task.request is None or task.request.id is None:
        return None
    return str(task.request.id), str(task.name)


class Redact(logging.Filter):
    """Formats the message once, masked; handlers then see only the masked text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True


class TextFormatter(logging.Formatter):
    def __init__(self, role: str = "synapse") -> None:
        super().__init__(TEXT_FORMAT)
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        record.role = self.role
        line = super().format(record)
        task = _current_task()
        if task is not None and task[0] not in line:
            line += f" [job {task[0]}]"
        return line


class JsonFormatter(logging.Formatter):
    def __init__(self, role: str = "synapse") -> None:
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "role": self.role,
            "pid": record.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        task = _current_task()
        if task is not None:
            out["job_id"], out["task"] = task
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exc"] = redact(record.exc_text)
        return json.dumps(out, default=str, ensure_ascii=False)


def logging_config(settings: Settings, role: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: one stderr handler on the root logger."""
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": Redact}},
        "formatters": {"main": {"()": formatter, "role": role}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
                "filters": ["redact"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        # uvicorn's loggers and Celery's go through the root handler, in the same format.
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery")
        },
    }


def setup_logging(settings: Settings | None = None, role: str | None = None) -> None:
    """Configure this process's logging (idempotent: the handlers are replaced)."""
    global _role
    _role = role or _role or "synapse"
    logging.config.dictConfig(logging_config(settings or get_settings(), _role))


def _guess_role() -> str:
    for word in ("worker", "beat", "flower"):
        if word in sys.argv[1:]:
            return word
    return os.path.basename(sys.argv[0]) or "celery"


def celery_setup_logging(**_: Any) -> None:
    """Receiver of Celery's `setup_logging` signal: Celery then configures no logging itself."""
    setup_logging(role=_role or _guess_role())
