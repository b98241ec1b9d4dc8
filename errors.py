"""The exceptions storeadvise raises for things a user can fix.

Library code raises these; only the CLI turns them into a one-line message and an exit code.
"""

from __future__ import annotations


class StoreAdviseError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 1


class UsageError(StoreAdviseError):
    """An option, name or value the user gave is not valid."""

    exit_code = 2


class DataError(StoreAdviseError):
    """The input data cannot be read or is not usable."""

    exit_code = 3


class BackendUnavailable(StoreAdviseError):
    """A storage backend cannot be used here (missing package, unreachable server)."""

    exit_code = 4


class ServerError(StoreAdviseError):
    """A server stopped answering or refused a request in the middle of an operation."""

    exit_code = 7


class UnsupportedOperation(StoreAdviseError):
    """The backend cannot do this operation; it is reported, never faked."""

    exit_code = 5


class PartialRun(StoreAdviseError):
    """The run finished without all it was asked for: a backend or an operation failed or was skipped."""

    exit_code = 6

    @classmethod
    def of(cls, what: str, problems: list[str]) -> PartialRun:
        """"partial run: csv failed: ... (and 2 more)": the first of the run's ``problems`` and how many follow."""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return cls(f"partial {what}: {problems[0]}{more}")


class Regression(StoreAdviseError):
    """A compared run is slower than the allowed ratio beyond noise (``report --fail-above``)."""

    exit_code = 8
