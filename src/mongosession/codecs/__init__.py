"""Codecs: a session dict to the stored ``session`` field and back, and encryption at rest.

- :mod:`.formats`: ``json`` (connect-mongo's ``stringify: true``) and ``bson``;
- :mod:`.encryption`: the store's AES-256-GCM envelopes (``encryption_keys``);
- :mod:`.node`: connect-mongo's own encrypted formats, for sharing sessions with Node.
"""
