"""The library's errors: what each one also is, so that callers can catch them broadly."""

from __future__ import annotations

import mongosession
from mongosession import DecryptionError, MongoSessionError, ReservedKey


def test_decryption_error_is_a_corrupt_session() -> None:
    assert issubclass(DecryptionError, mongosession.CorruptSession)


def test_reserved_key_is_a_key_error_and_a_mongosession_error() -> None:
    assert issubclass(ReservedKey, KeyError)
    assert issubclass(ReservedKey, MongoSessionError)
