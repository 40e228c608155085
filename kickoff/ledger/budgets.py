"""Daily allowances (HubSpot's daily call limit per account, Salesforce's 24-hour allocation)
as budgets every worker shares: the latest count the vendor reported, and when it resets.

Why the ledger and not Prefect's global concurrency limits: those count slots that decay at a
fixed rate, and can hold neither the vendor's own count (used/allowed, which other clients of
the account move too) nor a reset at a time of day; and the decision a budget feeds (which
outbox rows wait) is taken next to those rows, in the same database every worker already
shares, with or without a Prefect server.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from kickoff.ledger.database import insert_for
from kickoff.ledger.records import Budget
from kickoff.ledger.schema import budgets


def record(conn: Connection, budget: Budget) -> None:
    """Keep the vendor's latest count for (tool, account). A count from before the stored one's
    reset (an older answer arriving late) never lowers a newer day's count."""
    values = {"tool": budget.tool, "account": budget.account, "used": budget.used,
              "allowed": budget.allowed, "resets_at": budget.resets_at, "updated_at": budget.updated_at}
    statement = insert_for(conn, budgets).values(**values)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["tool", "account"],
        set_={k: statement.excluded[k] for k in ("used", "allowed", "resets_at", "updated_at")},
        where=budgets.c.updated_at <= statement.excluded.updated_at))


def get(conn: Connection, tool: str, account: str) -> Budget | None:
    row = conn.execute(select(budgets).where(budgets.c.tool == tool, budgets.c.account == account)).first()
    return _budget(row) if row is not None else None


def all_budgets(conn: Connection) -> list[Budget]:
    return [_budget(r) for r in conn.execute(select(budgets).order_by(budgets.c.tool, budgets.c.account))]


def _budget(row: object) -> Budget:
    return Budget(tool=row.tool, account=row.account, used=row.used, allowed=row.allowed,  # type: ignore[attr-defined]
                  resets_at=row.resets_at, updated_at=row.updated_at)  # type: ignore[attr-defined]


def reset_passed(budget: Budget, now: datetime) -> bool:
    """The allowance has come back since the count was taken."""
    return budget.resets_at is not None and now >= budget.resets_at
