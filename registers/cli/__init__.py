"""The ``registers`` command: a thin click layer over ``registers.service``.

The group and its helpers live in ``group``; the commands, by topic, in the other modules
(``registers``, ``records``, ``keys``, ...), which this package imports so that ``main`` has them all.

It parses arguments, calls the library and prints; errors a user can cause become one line
on stderr and a non-zero exit status, never a traceback.
"""

from . import audit, changes, indexes, keys, proposals, receipts, records, registers, schema, tokens  # noqa: F401  (they add the commands to main)
from .group import main

__all__ = ["main"]
