"""The errors Tierwise raises on purpose, under one root.

The command line catches :class:`TierwiseError` and prints its message as one line; any
other exception is a bug, printed as one line with the path of a log holding the
traceback (:mod:`pipeline.cli`).

* :class:`InputError`: an input file (an export, ``staff.csv``, ``overrides.csv``, the
  processed folder) cannot be used as it is. It names the file and, where it applies, the
  column, the row (as a spreadsheet shows it: the header is row 1) and the value:
  ``students.csv, column 'grade', row 17: grade 'Two' is not a grade``.
* :class:`ConfigError`: a file under ``config/`` is missing or holds an invalid value.
* :class:`RenderError`: a report could not be rendered (no kernel, no such school).
"""

from __future__ import annotations

from pathlib import Path


class TierwiseError(Exception):
    """The root of every error Tierwise raises on purpose."""

    def __reduce__(self):
        # Rebuilt from its message and fields, not by calling __init__ again, so that an
        # error raised in a worker process reaches the caller as itself.
        return _rebuilt, (type(self), self.args, self.__dict__)


def _rebuilt(kind: type[TierwiseError], args: tuple, fields: dict) -> TierwiseError:
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.__dict__.update(fields)
    return error


class ConfigError(TierwiseError):
    """A configuration file is missing, unreadable or holds an invalid value."""


class RenderError(TierwiseError):
    """A report could not be rendered."""


class InputError(TierwiseError):
    """An input cannot be used as it is: names file, column, row and value where known."""

    def __init__(
        self,
        file: Path | str,
        why: str,
        column: str | None = None,
        row: int | None = None,
        value: object = None,
    ):
        self.file, self.why = str(file), why
        self.column, self.row, self.value = column, row, value
        where = [self.file]
        if column is not None:
            where.append(f"column '{column}'")
        if row is not None:
            where.append(f"row {row}")
        detail = f"{column} {value!r} {why}" if value is not None and column else why
        super().__init__(f"{', '.join(where)}: {detail}")
