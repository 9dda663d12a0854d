"""Programs of typed store calls (mongosession.web.calls), run by both runners without I/O.

The Django adapter writes each ``SessionBase`` method once, as a generator of
typed calls (``stored = yield from Get(sid)``); ``run_steps`` (async, and its
generated blocking twin) carries each call out by its type, sends the result
back, and throws a store error back in. A fake store records what was asked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mongosession import SessionConflict, StoredSession
from mongosession.web.asynchronous.steps import run_steps as run_async
from mongosession.web.calls import Create, Destroy, Get, Regenerate, Save, Steps, Touch
from mongosession.web.synchronous.steps import run_steps as run_sync


class FakeStore:
    """Answers each store method from a script, recording the calls (blocking)."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[tuple[Any, ...]] = []

    def _answer(self, name: str, *args: Any) -> Any:
        self.calls.append((name, *args))
        answer = self.answers.get(name)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def get(self, sid: str) -> Any:
        return self._answer("get", sid)

    def create(self, sid: str, session: Any) -> Any:
        return self._answer("create", sid, session)

    def save(self, sid: str, session: Any) -> Any:
        return self._answer("save", sid, session)

    def touch(self, sid: str, session: Any) -> Any:
        return self._answer("touch", sid, session)

    def destroy(self, sid: str) -> Any:
        return self._answer("destroy", sid)

    def regenerate(self, old: str, new: str, session: Any) -> Any:
        return self._answer("regenerate", old, new, session)


class AsyncFakeStore(FakeStore):
    """The same, awaitable."""

    async def get(self, sid: str) -> Any:  # type: ignore[override]
        return super().get(sid)

    async def create(self, sid: str, session: Any) -> Any:  # type: ignore[override]
        return super().create(sid, session)

    async def save(self, sid: str, session: Any) -> Any:  # type: ignore[override]
        return super().save(sid, session)

    async def touch(self, sid: str, session: Any) -> Any:  # type: ignore[override]
        return super().touch(sid, session)

    async def destroy(self, sid: str) -> Any:  # type: ignore[override]
        return super().destroy(sid)

    async def regenerate(self, old: str, new: str, session: Any) -> Any:  # type: ignore[override]
        return super().regenerate(old, new, session)


def run(flavour: str, steps: Steps[Any], **answers: Any) -> tuple[Any, list[tuple[Any, ...]]]:
    """Run ``steps`` with the ``flavour`` runner: its result, and the store calls made."""
    if flavour == "sync":
        store = FakeStore(**answers)
        return run_sync(steps, store), store.calls  # type: ignore[arg-type]
    astore = AsyncFakeStore(**answers)
    return asyncio.run(run_async(steps, astore)), astore.calls  # type: ignore[arg-type]


FLAVOURS = ["sync", "async"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_each_call_reaches_its_store_method_and_its_result_comes_back(flavour: str) -> None:
    data = {"n": 1}

    def program() -> Steps[list[Any]]:
        stored = yield from Get("a")
        yield from Create("b", data)
        saved = yield from Save("b", data)
        yield from Touch("b", data)
        live = yield from Regenerate("b", "c", data)
        gone = yield from Destroy("c")
        return [stored, saved, live, gone]

    stored = StoredSession({"n": 0})
    result, calls = run(flavour, program(), get=stored, save=True, regenerate=True, destroy=False)
    assert result == [stored, True, True, False]
    assert calls == [
        ("get", "a"),
        ("create", "b", data),
        ("save", "b", data),
        ("touch", "b", data),
        ("regenerate", "b", "c", data),
        ("destroy", "c"),
    ]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_store_error_is_thrown_back_where_the_program_asked(flavour: str) -> None:
    def program() -> Steps[str]:
        try:
            yield from Save("a", {"n": 2})
        except SessionConflict as exc:
            return f"caught {exc.keys}"
        return "saved"

    result, _ = run(flavour, program(), save=SessionConflict(["n"]))
    assert result == "caught ['n']"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_store_error_the_program_leaves_alone_reaches_the_caller(flavour: str) -> None:
    def program() -> Steps[None]:
        yield from Save("a", {})

    with pytest.raises(SessionConflict):
        run(flavour, program(), save=SessionConflict(["n"]))


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_string_command_is_refused_not_dispatched_by_name(flavour: str) -> None:
    # The untyped ("method", *arguments) tuples of before: never getattr(store, name).
    def program() -> Steps[Any]:
        return (yield ("clear",))  # type: ignore[misc]

    with pytest.raises(TypeError, match="not a store call"):
        run(flavour, program(), clear="everything")


def test_calls_are_values() -> None:
    assert Get("a") == Get("a")
    assert Save("a", {"n": 1}) != Save("a", {"n": 2})
    with pytest.raises(AttributeError):
        Get("a").sid = "b"  # type: ignore[misc]
