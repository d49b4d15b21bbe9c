"""The project's user-facing error: a fault in the user's input or environment.

Every error the ``quantbook`` command reports as one line (``quantbook: error: ...``, exit status
1) derives from :class:`QuantbookError` or is one of the standard exceptions it maps
(``cli.main``). Its message names the file, store, table, column, rows or parameter at fault and
the likely cause; it never needs the traceback to be understood.
"""

from __future__ import annotations


class QuantbookError(Exception):
    """A user's input or the environment is at fault; the message is one line that says where."""


class UnknownNameError(QuantbookError, KeyError):
    """A name (report, statistic, ...) that a registry does not define.

    Notes
    -----
    A :class:`KeyError` shows its message quoted (``repr``); this one shows it as written, so
    that the one-line message reads like every other :class:`QuantbookError`.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown name"
