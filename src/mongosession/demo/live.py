"""Live updates: the store's change stream, fanned out to open pages as server-sent events.

One change stream serves the whole process (:class:`LiveFeed`): it is opened when
the first page subscribes and closed within a second (its ``max_await``) after the
last one leaves, so an idle demo holds no cursor on the server. Each open page has
one ``GET /events`` request (:class:`EventsEndpoint`), answered with
``text/event-stream``:

- ``ready``: the stream is on (sent first; again after a reconnection, when the
  page re-reads its list, since events may have been missed);
- ``ended`` ``{"handle": ..., "kind": ...}``: one of the user's other sessions ended
  (revoked, expired, signed out); the page drops its row and re-reads the list;
- ``signed-out`` ``{"kind": ...}``: the session of this page ended; the stream ends;
- ``added``: a new session of the user appeared (a sign-in elsewhere): the page re-reads
  its list. Inserts are not in the change stream; the list is read again with each
  keep-alive (every :data:`HEARTBEAT` seconds), so this one comes within that time;
- ``paused`` / ``live``: the change stream lost the database / has it again;
- ``off``: change streams are not available (a standalone ``mongod``); the stream ends.

An event belongs to the user when the change stream's pre-image names them (the
demo's own server keeps pre-images), or when its session's handle is one of the
user's sessions as last listed (a server without pre-images). The endpoint is outside the session middleware (its ``skip``):
it reads the cookie and the session itself, once, and never writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pymongo.errors import OperationFailure, PyMongoError

from mongosession import AsyncMongoStore, ChangeStreamsUnsupported, StoreUnavailable
from mongosession._log import log
from mongosession.store.devices import DeviceSession, device_handle
from mongosession.store.events import SessionEvent
from mongosession.web.config import SessionConfig
from mongosession.web.cookies import read_cookie, unsign

#: Seconds between keep-alives on an idle stream (proxies drop silent ones); each also
#: re-reads the user's list, so that a new sign-in elsewhere shows within this time.
HEARTBEAT = 10.0

#: How long each wait of the change stream lasts; also how soon it closes when unused.
MAX_AWAIT = 1.0

#: Seconds before the change stream is opened again after the database failed it.
RETRY = 2.0

#: How long a new page's stream waits for the change stream to open before saying
#: "paused" (it says "live" when it opens).
OPEN_WAIT = 6.0

#: Events a page may fall behind by before it is told to re-read its list instead.
QUEUE_SIZE = 256

FeedState = Literal["unknown", "on", "off", "paused"]

#: What the feed puts in a subscriber's queue: an event, or a change of its own state
#: ("closing": the server is shutting down).
Item = SessionEvent | Literal["on", "off", "paused", "closing", "overflow"]


class Subscriber:
    """One open page's queue of what the feed saw."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_SIZE)

    def put(self, item: Item) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # A page that cannot keep up re-reads its list rather than miss an end.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait("overflow")

    async def get(self) -> Item:
        return await self._queue.get()


class LiveFeed:
    """The process's one change stream of session ends, shared by every open page."""

    def __init__(self, store: AsyncMongoStore) -> None:
        self._store = store
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: Set while the change stream is open: events from then on reach the pages.
        self.opened = asyncio.Event()
        self.state: FeedState = "unknown"
        #: Why live updates are off, in a sentence (``state == "off"``).
        self.reason = ""

    @property
    def subscribers(self) -> int:
        """How many pages follow the feed now."""
        return len(self._subscribers)

    @property
    def streaming(self) -> bool:
        """Whether the change stream's task runs (it holds a cursor on the server)."""
        return self._task is not None and not self._task.done()

    async def probe(self) -> FeedState:
        """Open and close a change stream once: are live updates possible here?"""
        try:
            async with self._store.watch(max_await=MAX_AWAIT):
                pass
        except ChangeStreamsUnsupported as exc:
            self._turn_off(exc)
        except (StoreUnavailable, PyMongoError) as exc:
            log.warning("demo: live updates not checked (the database did not answer): %s", exc)
        else:
            self.state = "on"
        return self.state

    def _turn_off(self, exc: BaseException) -> None:
        self.state = "off"
        self.reason = str(exc).split(";")[0]

    @contextlib.contextmanager
    def subscription(self) -> Iterator[Subscriber]:
        """A queue of everything the feed sees while the block runs (starts the stream)."""
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        self._ensure_running()
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    def _ensure_running(self) -> None:
        if self._closed or self.state == "off" or self.streaming:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="demo-live-feed")

    def _publish(self, item: Item) -> None:
        for subscriber in list(self._subscribers):
            subscriber.put(item)

    def _wanted(self) -> bool:
        return bool(self._subscribers) and not self._closed

    async def _run(self) -> None:
        token: Mapping[str, Any] | None = None
        try:
            while self._wanted():
                try:
                    async with self._store.watch(resume_after=token, max_await=MAX_AWAIT) as events:
                        self.opened.set()
                        self.state = "on"
                        self._publish("on")  # pages waiting, or back after a pause
                        while self._wanted() and not events.closed:
                            event = await events.try_next()
                            token = events.resume_token
                            if event is not None:
                                self._publish(event)
                    self.opened.clear()
                except ChangeStreamsUnsupported as exc:
                    self._turn_off(exc)
                    self._publish("off")
                    return
                except (StoreUnavailable, PyMongoError) as exc:
                    self.opened.clear()
                    if isinstance(exc, OperationFailure):
                        token = None  # e.g. the resume point left the oplog: start afresh
                    log.warning("demo: live updates paused: %s", exc)
                    self.state = "paused"
                    self._publish("paused")
                    await asyncio.sleep(RETRY)
        finally:
            self.opened.clear()
            self._task = None
            # A page that subscribed while the stream was closing gets a new one.
            if self._wanted() and self.state != "off":
                self._ensure_running()

    def close(self) -> None:
        """Tell every open page's stream to end (the server is shutting down)."""
        self._closed = True
        self._publish("closing")

    async def stop(self) -> None:
        """Close the feed and wait for its change stream to close."""
        self.close()
        task = self._task
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), MAX_AWAIT * 5)
            except asyncio.TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def session_id(scope: Mapping[str, Any], config: SessionConfig) -> str | None:
    """The session id of the request's signed cookie, as the middleware would read it."""
    cookie = "; ".join(
        value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"cookie"
    )
    value = read_cookie(cookie, config.name) if cookie else None
    return unsign(value, config.secrets) if value else None


class Follower:
    """What one page follows: its user's sessions, and which one is its own."""

    def __init__(self, user: Any, devices: list[DeviceSession]) -> None:
        self.user = user
        self.handles: set[str] = set()
        self.current: str | None = None
        #: Whether the page was told the stream is live (and not paused since).
        self.live = False
        self.update(devices)

    def update(self, devices: list[DeviceSession]) -> bool:
        """Remember the user's sessions as just listed; whether a new one appeared."""
        known = self.handles
        self.current = next((d.handle for d in devices if d.current), self.current)
        self.handles = {device.handle for device in devices} | (
            {self.current} if self.current else set()
        )
        return bool(known) and not self.handles <= known

    def message(self, item: Item) -> tuple[str, dict[str, Any]] | None:
        """The server-sent event for ``item``, if this page is concerned: (name, data)."""
        if item == "overflow":  # events were dropped: re-read the list
            return "live", {}
        if item in ("on", "paused"):
            if (item == "on") == self.live:
                return None  # nothing new for this page
            self.live = item == "on"
            return ("live" if self.live else "paused"), {}
        if isinstance(item, str):
            return (item, {}) if item == "off" else None
        handle = device_handle(item.sid)
        mine = handle in self.handles or (item.user is not None and item.user == self.user)
        if not mine:
            return None
        self.handles.discard(handle)
        if handle == self.current:
            return "signed-out", {"kind": item.kind}
        return "ended", {"handle": handle, "kind": item.kind}


def frame(name: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # a buffering proxy in front would hold the events
]


async def _plain(send: Any, status: int, text: str = "") -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class EventsEndpoint:
    """``GET /events``: the signed-in user's session ends, as server-sent events (ASGI).

    Answers 204 to a visitor not signed in (``EventSource`` then stops trying), 503
    while the database does not answer (the page tries again later), and a stream
    saying ``off`` when change streams are not available. The stream ends when the
    browser goes away (its ``http.disconnect``), when this page's own session ends,
    or at shutdown; its subscription to the feed ends with it.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = scope["app"].state
        store: AsyncMongoStore = state.store
        feed: LiveFeed = state.live
        if scope.get("method") not in ("GET", "HEAD"):
            await _plain(send, 405, "Method Not Allowed")
            return
        sid = session_id(scope, state.session_config)
        try:
            stored = await store.get(sid) if sid else None
            user = store.user_of(stored) if stored is not None else None
            devices = await store.devices_of(user, current=sid) if user is not None else []
        except StoreUnavailable:
            await _plain(send, 503, "Service Unavailable: session store unavailable")
            return
        if user is None:
            await _plain(send, 204)
            return
        await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
        follower = Follower(user, devices)
        if feed.state == "off":
            await self._end(send, frame("off", {"reason": feed.reason}))
        elif follower.current is None:  # ended between the page and this request
            await self._end(send, frame("signed-out", {"kind": "ended"}))
        else:
            await self._follow(receive, send, store, feed, follower)

    @staticmethod
    async def _beat(store: AsyncMongoStore, follower: Follower) -> bytes:
        # A keep-alive comment, or "added" when the user's list has a new session.
        try:
            added = follower.update(await store.devices_of(follower.user))
        except StoreUnavailable:
            added = False
        return frame("added", {}) if added else b": -\n\n"

    @staticmethod
    async def _end(send: Any, last: bytes = b"") -> None:
        await send({"type": "http.response.body", "body": last, "more_body": False})

    async def _follow(
        self, receive: Any, send: Any, store: AsyncMongoStore, feed: LiveFeed, follower: Follower
    ) -> None:
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            with feed.subscription() as subscriber:
                # "ready" once the change stream is open: the page then re-reads its list,
                # and no end after that read is missed.
                opening = asyncio.ensure_future(feed.opened.wait())
                await asyncio.wait(
                    {opening, gone}, timeout=OPEN_WAIT, return_when=asyncio.FIRST_COMPLETED
                )
                opening.cancel()
                if gone.done():
                    return
                follower.live = feed.opened.is_set()
                first = frame("ready" if follower.live else "paused", {})
                body = b"retry: 3000\n" + first
                await send({"type": "http.response.body", "body": body, "more_body": True})
                clock = asyncio.get_running_loop().time
                beat = clock() + HEARTBEAT
                while True:
                    item = asyncio.ensure_future(subscriber.get())
                    done, _ = await asyncio.wait(
                        {item, gone},
                        timeout=max(0.0, beat - clock()),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if gone in done:
                        item.cancel()
                        return
                    if item not in done:  # keep-alive time: and any new session of the user?
                        item.cancel()
                        beat = clock() + HEARTBEAT
                        await send(
                            {
                                "type": "http.response.body",
                                "body": await self._beat(store, follower),
                                "more_body": True,
                            }
                        )
                        continue
                    got = item.result()
                    if got == "closing":
                        break
                    message = follower.message(got)
                    if message is None:
                        continue
                    name, data = message
                    body = frame(name, data)
                    if name in ("signed-out", "off"):
                        await self._end(send, body)
                        return
                    await send({"type": "http.response.body", "body": body, "more_body": True})
        finally:
            gone.cancel()
        await self._end(send)
