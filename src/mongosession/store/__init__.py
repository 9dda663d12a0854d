"""The store layer: MongoDB documents with express-session's store API.

- :mod:`.rules`, :mod:`.documents`, :mod:`.merge`, :mod:`.indexes`: no I/O;
- :mod:`.errors`: driver errors mapped to the library's, and the time budget;
- :mod:`.events`, :mod:`.sweeper`: callbacks and change-stream events, the interval sweeper;
- :mod:`.asynchronous`: the stores, written by hand; :mod:`.synchronous`: generated
  from it by ``tools/unasync.py``.
"""
