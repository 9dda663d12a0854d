"""Sessions per user: listing, revoking, and ``max_sessions_per_user``.

This file is a source: its blocking twin under ``store/synchronous/`` is generated
by ``tools/unasync.py``; edit here and run ``python tools/unasync.py``.
"""

from __future__ import annotations

from typing import Any

from mongosession import _clock
from mongosession._errors import (
    SessionLimitReached,
)
from mongosession.store.asynchronous.base import AsyncStoreBase
from mongosession.store.errors import guarded
from mongosession.store.indexes import USER_HINT, hint_option


class AsyncUserSessions(AsyncStoreBase):
    """The per-user operations: a user's sessions, "log out everywhere", the session limit."""

    async def _check_session_limit(
        self, storage_id: str, user: Any, replaced: str | None = None
    ) -> None:
        # on_session_limit="refuse": a login over the limit writes nothing.
        rules = self._rules
        limit = rules.max_sessions_per_user
        if user is None or limit is None or rules.on_session_limit != "refuse":
            return
        query = rules.others_of_user(user, _clock.now(), storage_id, replaced)
        with guarded(rules.timeout):
            others = await self._user_indexed(
                lambda hint: self._collection.count_documents(
                    query, limit=limit, **hint_option(hint)
                )
            )
        if others >= limit:
            raise SessionLimitReached(limit)

    async def _apply_session_limit(
        self,
        storage_id: str,
        user: Any,
        *,
        created: bool,
        written: Any = None,
        before: Any = None,
    ) -> None:
        # After a login is written: end the sessions beyond the limit, oldest
        # login first ("evict_oldest"), or take back the login that lost a race
        # with others ("refuse"): a new session is deleted; an existing one that
        # gained the user gets its payload from ``before`` back (ended, when that
        # is unknown), unless it was rewritten since (``written`` no longer there).
        rules = self._rules
        limit = rules.max_sessions_per_user
        refuse = rules.on_session_limit == "refuse"
        if user is None or limit is None:
            return
        now = _clock.now()
        query = rules.user_filter(user, now)
        with guarded(rules.timeout):
            docs = await self._user_indexed(
                lambda hint: self._collection.find(
                    query, {"_id": 1}, sort=[("userSince", 1), ("_id", 1)], hint=hint
                ).to_list()
            )
            oldest_first = [doc["_id"] for doc in docs]
            ended = rules.over_limit(oldest_first, storage_id)
            if not ended:
                return
            if refuse and created:
                await self._collection.delete_one({"_id": storage_id})
            elif refuse:
                await self._take_back(storage_id, user, written, before, now)
            elif rules.delete_flags:
                await self._collection.update_many({"_id": {"$in": ended}}, rules.flag_update(now))
            else:
                await self._collection.delete_many({"_id": {"$in": ended}})
        if refuse:
            raise SessionLimitReached(limit)

    async def _take_back(
        self, storage_id: str, user: Any, written: Any, before: Any, now: Any
    ) -> None:
        # Undo a login written over an existing session (guarded by the caller):
        # the payload from before it, or, when that is unknown or the session was
        # rewritten since, the end of the session while it still has the user.
        rules = self._rules
        if before is not None:
            update = rules.write_update(rules.decode(before, storage_id), before, now, upsert=False)
            result = await self._collection.update_one(
                {"_id": storage_id, "session": {"$eq": written}}, update
            )
            # With w=0 no answer says whether the payload came back, so the end below
            # is sent too: it matches nothing once the restore applied (the restored
            # session has another user, or none).
            if result.acknowledged and result.matched_count:
                return
        query = {"_id": storage_id, "user": user}
        if rules.delete_flags:
            await self._collection.update_one(query, rules.flag_update(now))
        else:
            await self._collection.delete_one(query)

    async def sessions_of(self, user: Any) -> dict[str, dict[str, Any]]:
        """The live sessions whose ``user_key`` value is ``user``, keyed by stored ``_id``.

        Read through the per-user index (hinted): the work is the user's
        sessions, whatever the size of the collection.
        """
        return await self._find(self._rules.user_filter(user, _clock.now()), hint=USER_HINT)

    async def destroy_user(self, user: Any, keep: str | None = None) -> int:
        """End every session of ``user`` ("log out everywhere"); return how many.

        ``keep`` spares one session id, typically the current one. With an
        unacknowledged write concern (w=0), how many a count found just before.
        One command through the per-user index (hinted), so its work is the
        user's sessions: a session :meth:`regenerate` moves meanwhile ends under
        one id or the other (docs/scaling.md#per-user-operations).
        """
        rules = self._rules
        now = _clock.now()
        query = rules.user_filter(user, now, keep=keep)
        await self._prepare()
        with guarded(rules.timeout):
            if rules.delete_flags:
                update = rules.flag_update(now)
                return int(
                    await self._user_indexed(
                        lambda hint: self._update_many(query, update, hint=hint)
                    )
                )
            return int(await self._user_indexed(lambda hint: self._delete_many(query, hint=hint)))
