"""``python -m mongosession`` and the ``mongosession`` console script.

Example::

    mongosession --uri mongodb://localhost:27017/app stats
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mongosession.cli import main as _run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the admin command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    return _run(argv)


if __name__ == "__main__":
    sys.exit(main())
