"""The project's user-facing error: a fault in the user's input or environment.

Every error the ``quantbook`` command reports as one line (``quantbook: error: ...``, exit status
1) derives from :class:`QuantbookError` or is one of the standard exceptions it maps
(``cli.main``). Its message names the file, store, table, column, rows or parameter at fault and
the likely cause; it never needs the traceback to be understood.
"""

from __future__ import annotations


class QuantbookError(Exception):
    """A user's input or the environment is at fault; the message is one line that says where."""
