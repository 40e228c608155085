"""Daily allowances in the push: near the end of one, only urgent rows go; the rest wait.

Before a round is sent, each account's stored budget (``kickoff.ledger.budgets``, the latest
count any worker's answers reported) is read: when what is left is within the reserve
(``KICKOFF_DAILY_RESERVE``, a share of the allowance), the rows that can wait
(``kickoff.urgency``) are handed back to the ledger as pending until the reset, not counted
as attempts (so never dead letters, never sent twice). After the round, the count the
vendor's headers reported (``connectors.ratelimit.Reported``) is stored for every worker, with
when it resets as the connector knows it (``daily_resets_at``: HubSpot's at midnight in the
portal's time zone, a rolling allowance checked again within the hour).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.base import DAILY_RECHECK, Connector
from kickoff.ledger import Budget
from kickoff.urgency import is_urgent


def split(rt: Any, tool: str, ready: Sequence[tuple[Any, Any]], accounts: Mapping[int, str],
          worker: str, now: datetime) -> list[tuple[Any, Any]]:
    """The rows of ``ready`` ((outbox item, vendor action), ``accounts`` by outbox id) to send
    now; the others are deferred in the ledger until the reset."""
    reserve = rt.config.settings.daily_reserve
    going, waiting = [], []
    known: dict[str, Budget | None] = {}
    for row in ready:
        account = accounts[row[0].id]
        if account not in known:
            known[account] = rt.ledger.budget(tool, account)
        budget = known[account]
        low = budget is not None and (budget.resets_at is None or now < budget.resets_at) and budget.in_reserve(reserve)
        if low and not is_urgent(row[0].action, budget.resets_at):
            waiting.append((row[0], budget))
        else:
            going.append(row)
    until: dict[datetime, list[int]] = {}  # one deferral per reset moment, not one per row
    for item, budget in waiting:
        until.setdefault(budget.resets_at or now + DAILY_RECHECK, []).append(item.id)
    for moment, ids in until.items():
        rt.ledger.defer_outbox(ids, worker, moment, now=now)
    return going


def remember(rt: Any, tool: str, connectors: Sequence[Connector], now: datetime) -> None:
    """Store the daily counts the connectors' answers reported, for every worker to see."""
    for connector in connectors:
        daily = getattr(connector.limiter, "daily", None)
        report = daily(tool, connector.credential_key) if daily else None
        if report is None or report.daily_limit is None or report.daily_used is None:
            continue
        rt.ledger.record_budget(Budget(tool=tool, account=connector.credential_key, used=report.daily_used,
                                       allowed=report.daily_limit, resets_at=connector.daily_resets_at(now),
                                       updated_at=now))
