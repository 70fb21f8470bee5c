"""The error hierarchy. Edges translate these; services raise them."""

from __future__ import annotations

from typing import Any


class SynapseError(Exception):
    """Base of every error the product raises on purpose."""


class NotFound(SynapseError):
    pass


class Conflict(SynapseError):
    pass


class Forbidden(SynapseError):
    """The caller is known but may not do this (a member asking for an admin action)."""


class InvalidInput(SynapseError):
    """Bad input: never retried. `details` carries structured information (row errors...)."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.details = details


class PayloadTooLarge(InvalidInput):
    pass


class UnsupportedMedia(InvalidInput):
    pass


class TransientError(SynapseError):
    """A fault that may go away by itself (lost connection, timeout): safe to retry."""


class JobCancelled(SynapseError):
    """Raised at a checkpoint when the job was asked to stop."""


class OperationFailed(SynapseError):
    """An outside tool or resource failed (pg_dump, a full disk): reported as is, not retried."""
