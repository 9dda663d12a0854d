"""A PyMongo command listener that records what a client sends to the server.

Pass an instance to a client with ``MongoClient(uri, event_listeners=[log])`` (or
``AsyncMongoClient``) and assert on the commands a piece of code issued, e.g. that a
read-only request did not write.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo import monitoring

__all__ = ["WRITE_COMMANDS", "CommandLog", "CommandRecord"]

WRITE_COMMANDS = frozenset({"insert", "update", "delete", "findAndModify"})


@dataclass(frozen=True)
class CommandRecord:
    """One started command: its name, target database and a copy of its document."""

    command_name: str
    database: str
    command: Mapping[str, Any] = field(repr=False)
    request_id: int = 0


class CommandLog(monitoring.CommandListener):
    """Thread-safe record of started (and failed) commands."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CommandRecord] = []
        self._failures: list[tuple[str, Mapping[str, Any]]] = []

    # -- CommandListener ------------------------------------------------------------

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        record = CommandRecord(
            command_name=event.command_name,
            database=event.database_name,
            command=copy.deepcopy(dict(event.command)),
            request_id=event.request_id,
        )
        with self._lock:
            self._records.append(record)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            self._failures.append((event.command_name, dict(event.failure or {})))

    # -- queries --------------------------------------------------------------------

    @property
    def records(self) -> list[CommandRecord]:
        with self._lock:
            return list(self._records)

    @property
    def failures(self) -> list[tuple[str, Mapping[str, Any]]]:
        """``(command_name, failure document)`` for each command that failed."""
        with self._lock:
            return list(self._failures)

    def names(self) -> list[str]:
        """Names of the started commands, in order."""
        return [r.command_name for r in self.records]

    def count(self, name: str | None = None) -> int:
        """Number of started commands (named ``name``, if given)."""
        records = self.records
        if name is None:
            return len(records)
        return sum(1 for r in records if r.command_name == name)

    def commands(self, name: str) -> list[Mapping[str, Any]]:
        """Copies of the command documents named ``name``, in order."""
        return [r.command for r in self.records if r.command_name == name]

    @property
    def writes(self) -> int:
        """Number of insert/update/delete/findAndModify commands."""
        return sum(1 for r in self.records if r.command_name in WRITE_COMMANDS)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._failures.clear()

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return f"<CommandLog {self.names()!r}>"
