"""The one exception hierarchy of kapsec.

Every package raises a subclass of :class:`KapsecError`; only ``kapsec.cli`` turns them into
messages and exit codes (2 for all of these). Errors carry the file, line and field or flag
they concern, and chain their cause with ``raise ... from e``.
"""

from __future__ import annotations


class KapsecError(Exception):
    """Base of every error kapsec reports to a user."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [p for p in (where, self.field) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class InputError(KapsecError):
    """An input could not be read or parsed (missing file, malformed YAML, truncated gzip)."""


class ValidationError(KapsecError):
    """An input was read but is not valid (the API server would reject it)."""


class UsageError(KapsecError):
    """The command line asks for something that cannot be done."""


class ServiceError(KapsecError):
    """A live endpoint (cluster, etcd, TLS server) could not be reached or answered badly."""
