"""Typed store calls: what a program of steps asks the store for, and what it gets back.

Django's ``SessionBase`` has a blocking method and an ``a*`` twin for each
operation. The Django adapter writes each operation once, as a generator (a
program of *steps*, :data:`Steps`) that yields these calls and receives their
results; ``web/asynchronous/steps.py`` runs it against an async store and its
generated twin against a blocking one. Each call is a small typed value, and
``yield from`` one gives its result with its type::

    def load_steps(sid: str) -> Steps[dict[str, Any]]:
        stored = yield from Get(sid)  # StoredSession | None
        return {} if stored is None else dict(stored)

A store error is thrown back into the program at that ``yield from``, where the
program may catch it.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from mongosession.store.documents import StoredSession

R = TypeVar("R")
T = TypeVar("T")


class StoreCall(Generic[R]):
    """A store operation a program of steps asks for; ``R`` is what it gives back."""

    __slots__ = ()

    def __iter__(self) -> Generator[StoreCall[Any], Any, R]:
        # ``result = yield from call``: the runner sends the store's answer back.
        return cast(R, (yield self))


#: A program of store calls whose result is T.
Steps = Generator[StoreCall[Any], Any, T]


@dataclass(frozen=True)
class Get(StoreCall[StoredSession | None]):
    """``store.get(sid)``: the live session, or None."""

    sid: str


@dataclass(frozen=True)
class Create(StoreCall[None]):
    """``store.create(sid, session)``: insert a new session (SessionIdCollision if taken)."""

    sid: str
    session: Mapping[str, Any]


@dataclass(frozen=True)
class Save(StoreCall[bool]):
    """``store.save(sid, session)``: update a live session only; False when it is gone."""

    sid: str
    session: Mapping[str, Any]


@dataclass(frozen=True)
class Touch(StoreCall[None]):
    """``store.touch(sid, session)``: move the expiry of an unchanged session."""

    sid: str
    session: Mapping[str, Any]


@dataclass(frozen=True)
class Destroy(StoreCall[bool]):
    """``store.destroy(sid)``: end the session; whether it was live."""

    sid: str


@dataclass(frozen=True)
class Regenerate(StoreCall[bool]):
    """``store.regenerate(old_sid, new_sid, session)``: the data under a new id; whether the old was live."""

    old_sid: str
    new_sid: str
    session: Mapping[str, Any]
