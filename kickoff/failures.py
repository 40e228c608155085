"""What ops read of a failure that is kept for inspection (a failed timer, a failed inbox row):
its kind and message on one line, short, without the SQL or values a database error carries."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError

MAX_REASON = 500
"""Characters of a reason kept in the ledger."""

REFUSED_BY_THE_DATABASE = (DataError, IntegrityError)
"""Database errors that are one row's fault (a value too long, a missing one), not the
database's: that row fails alone, the rest go on."""


def at_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is the row's own fault (bad data, a playbook or mapping line that cannot
    be carried out, a value the database refuses): the row fails alone and the rest go on.
    Not so for the ledger's other errors or the network's (``OSError``): they are nobody's
    row, and the row is tried again after its lease."""
    return isinstance(exc, REFUSED_BY_THE_DATABASE) or not isinstance(exc, SQLAlchemyError | OSError)


def failure_reason(exc: BaseException) -> str:
    """``<kind>: <message>``: a validation error's fields and messages (without pydantic's
    links), a database error's own first line (not its statement and parameters), cut at
    ``MAX_REASON``."""
    kind = type(exc).__name__
    if isinstance(exc, ValidationError):
        message = "; ".join(f"{'.'.join(map(str, e['loc'])) or exc.title}: {e['msg']}" for e in exc.errors())
    elif isinstance(exc, DBAPIError) and exc.orig is not None:
        kind = type(exc.orig).__name__
        message = (str(exc.orig).strip().splitlines() or [""])[0]
    else:
        message = " ".join(str(exc).split())
    return f"{kind}: {message}"[:MAX_REASON]
