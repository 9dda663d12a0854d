"""The ``mongosession`` admin command line.

- :mod:`.parser`: the arguments (argparse) and their typed parsers;
- :mod:`.commands`: one function per command, through the store's public admin methods;
- :mod:`.reports`: each command's typed result, written as text or JSON;
- :mod:`.output`: escaping, tables, JSON, progress, and the exit statuses;
- :mod:`.app`: :func:`main`, from the arguments to the exit status.
"""

from __future__ import annotations

from mongosession.cli.app import main

__all__ = ["main"]
