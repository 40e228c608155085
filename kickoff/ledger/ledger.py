"""``Ledger``: the one door to Kickoff's durable state. Every method is one transaction.

Times that matter are arguments (``now``); leaving one out means "the wall clock, now",
which is only right at the edge (the CLI, a live flow). Simulations and tests pass time in.

Example::

    from kickoff.ledger import Ledger

    ledger = Ledger.open("sqlite:///.kickoff/ledger.sqlite3")  # migrates to head
    inbox_id, created = ledger.store_delivery(delivery)
    for item in ledger.claim_inbox("worker-1", limit=50):
        ...  # map, decide each event, then ledger.commit_delivery(item.id, decided)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from kickoff.closing import Closing
from kickoff.failures import REFUSED_BY_THE_DATABASE, failure_reason
from kickoff.ledger import (
    adoption,
    audit,
    budgets,
    crosswalk,
    cursors,
    firing,
    inbox,
    journal,
    migrate,
    outbox,
    pauses,
    results,
    state,
    timers,
    webhook_secrets,
)
from kickoff.ledger import status as status_mod
from kickoff.ledger import story as story_mod
from kickoff.ledger.commit import commit_decision as _commit_decision
from kickoff.ledger.commit import commit_delivery as _commit_delivery
from kickoff.ledger.database import READ_ONLY, open_database
from kickoff.ledger.errors import LedgerError
from kickoff.ledger.group_commit import GroupCommit
from kickoff.ledger.records import (
    Budget,
    CommitResult,
    DeadLetter,
    Decided,
    DueTimer,
    Firing,
    InboxItem,
    LedgerStatus,
    OutboxItem,
    PausedTool,
)
from kickoff.ledger.sealing import Sealer, sealer_for
from kickoff.ledger.types import as_utc
from kickoff.model import Action, ActionResult, Decision, Delivery, Onboarding, Timer
from kickoff.retry import Backoff
from kickoff.settings import KickoffSettings

DEFAULT_LEASE_SECONDS = 300.0
DEFAULT_ECHO_WINDOW = timedelta(minutes=15)


def _now(now: datetime | None) -> datetime:
    """The given time in UTC, or the wall clock: the API edge is the only place it is read."""
    return datetime.now(UTC) if now is None else as_utc(now)


class Ledger(Closing):
    """Inbox, outbox, timers, crosswalk, cursors, state, audit, the writes journal and the
    webhook secrets.

    Safe to share between threads; several processes may open the same database.
    """

    def __init__(
        self,
        database: Engine,
        *,
        max_attempts: int = 8,
        backoff: Backoff | None = None,
        settings: KickoffSettings | None = None,
    ) -> None:
        self.database = database
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self._settings = settings  # whose key seals webhook secrets (default: the environment's)
        self._sealer: Sealer | None = None
        self._stores = GroupCommit(database.begin)  # concurrent inbox stores share one commit
        self._inherited_pools: list[Any] = []  # a forked child's parent connections (after_fork)

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        schema: str | None = None,
        settings: KickoffSettings | None = None,
        max_attempts: int | None = None,
        backoff: Backoff | None = None,
        upgrade: bool = True,
    ) -> Ledger:
        """Connect (default: the settings' URL) and migrate to head unless ``upgrade=False``."""
        settings = settings or KickoffSettings()
        database = open_database(url or settings.resolved_database_url, schema=schema)
        if upgrade:
            migrate.upgrade(database, schema=schema, settings=settings)
        return cls(
            database,
            max_attempts=max_attempts or settings.max_attempts,
            backoff=backoff,
            settings=settings,
        )

    def close(self) -> None:
        """Wait for the inbox stores in progress to commit, then close the connections."""
        self._stores.flush()
        self.database.dispose()

    def after_fork(self) -> None:
        """In a forked child: connections of its own from now on. The parent's are kept
        referenced and never used or closed here (an SQLite or libpq connection must not cross
        a fork: closing it in the child would end the parent's session or checkpoint under it);
        the child ends with ``os._exit``, which frees nothing."""
        self._inherited_pools.append(self.database.pool)
        self.database.dispose(close=False)
        self._stores = GroupCommit(self.database.begin)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction (SQLite: BEGIN IMMEDIATE). Commits on success, else rolls back."""
        with self.database.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.database.connect() as conn:
            conn = conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                yield conn

    # -- inbox -------------------------------------------------------------------------
    def store_delivery(self, delivery: Delivery) -> tuple[int, bool]:
        """Store a delivery once; returns (inbox id, created). A duplicate is not an error.
        Committed before it returns, possibly in one transaction with concurrent stores."""
        return self._stores.run(lambda conn: inbox.store(conn, delivery))

    def store_deliveries(
        self,
        deliveries: Iterable[Delivery],
        cursor: tuple[str, str, str] | None = None,
        now: datetime | None = None,
    ) -> list[tuple[int, bool]]:
        """Store a poll page (or one webhook request's deliveries) and move the cursor ``(tool,
        stream, value)`` in the same transaction. Committed before it returns; concurrent calls
        share one commit (``group_commit``), each all or nothing."""
        at = _now(now)
        page = list(deliveries)

        def store(conn: Connection) -> list[tuple[int, bool]]:
            stored = [inbox.store(conn, d) for d in page]
            if cursor is not None:
                cursors.advance(conn, *cursor, now=at)
            return stored

        return self._stores.run(store)

    def claim_inbox(
        self,
        worker: str,
        limit: int = 100,
        now: datetime | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> list[InboxItem]:
        """Claim pending deliveries (and those whose worker's lease ran out)."""
        with self.transaction() as conn:
            return inbox.claim(
                conn, worker, limit, _now(now), timedelta(seconds=lease_seconds), self.max_attempts
            )

    def ignore_inbox(self, inbox_id: int, reason: str, now: datetime | None = None,
                     about: str | None = None) -> None:
        """Nothing to do for this delivery (an echo, an irrelevant change); kept with the reason
        (and the onboarding it was ``about``, when known)."""
        with self.transaction() as conn:
            inbox.finish(conn, inbox_id, "ignored", _now(now), reason, require_claim=False, about=about)

    def fail_inbox(self, inbox_id: int, reason: str, now: datetime | None = None,
                   about: str | None = None) -> None:
        """This delivery could not be processed (bad input); kept for inspection, the rest goes on."""
        with self.transaction() as conn:
            inbox.finish(conn, inbox_id, "failed", _now(now), reason, require_claim=False, about=about)

    # -- decisions ---------------------------------------------------------------------
    def commit_decision(
        self,
        decision: Decision,
        inbox_id: int | None = None,
        timer: DueTimer | int | None = None,
        event_id: str | None = None,
        now: datetime | None = None,
    ) -> CommitResult:
        """State (version-checked), actions, timers, inbox row/timer done and audit: all or nothing.

        Raises ``StateConflict`` if the onboarding changed since ``decision.state.version``,
        ``ClaimLost`` if the inbox row or timer is no longer claimed; nothing is written then.
        """
        with self.transaction() as conn:
            return _commit_decision(
                conn, decision, _now(now), inbox_id=inbox_id, timer=timer, event_id=event_id
            )

    def commit_delivery(
        self,
        inbox_id: int,
        decided: Sequence[Decided],
        *,
        ignored_because: str = "nothing decided",
        about: str | None = None,
        now: datetime | None = None,
    ) -> list[CommitResult]:
        """Everything one claimed delivery decided, in ONE transaction: each decision (state
        version-checked, actions, timers, audit), each source-record link, and the inbox row
        done (or ignored with ``ignored_because`` when ``decided`` is empty).

        A delivery that maps to several events about one onboarding decides each on the state
        the one before leaves (``kickoff.ledger.commit.state_after``). ``StateConflict`` or
        ``ClaimLost``: nothing is written and the row stays claimed, to be tried again.
        """
        with self.transaction() as conn:
            return _commit_delivery(
                conn, inbox_id, decided, _now(now), ignored_because=ignored_because, about=about
            )

    def load_state(self, onboarding_id: str) -> Onboarding | None:
        with self._read() as conn:
            return state.load(conn, onboarding_id)

    # -- outbox ------------------------------------------------------------------------
    def claim_outbox(
        self,
        tool: str,
        worker: str,
        limit: int = 50,
        now: datetime | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> list[OutboxItem]:
        """Claim due actions for one tool; two workers never get the same row."""
        with self.transaction() as conn:
            return outbox.claim(
                conn, tool, worker, limit, _now(now), timedelta(seconds=lease_seconds)
            )

    def record_result(
        self,
        outbox_id: int,
        result: ActionResult,
        now: datetime | None = None,
        *,
        claim: OutboxItem | None,
    ) -> str:
        """Apply a connector's answer; returns the row's new status (done/pending/dead), or
        "stale" when ``claim`` no longer holds the row (nothing changed then).

        ``claim`` is required: a push passes the ``OutboxItem`` it claimed; ``None`` is for
        callers that hold no claim (tools, tests) and records whoever holds the row."""
        with self.transaction() as conn:
            return results.record(
                conn,
                outbox_id,
                result,
                _now(now),
                claim=claim,
                max_attempts=self.max_attempts,
                backoff=self.backoff,
            )

    def dead_letters(self, tool: str | None = None) -> list[DeadLetter]:
        with self._read() as conn:
            return outbox.dead_letters(conn, tool)

    def replay_dead(self, ids: Sequence[int], now: datetime | None = None) -> list[int]:
        """Send dead letters again from scratch; returns the ids that were dead and now pending."""
        with self.transaction() as conn:
            return outbox.replay_dead(conn, ids, _now(now))

    def paused_tools(self) -> list[PausedTool]:
        with self._read() as conn:
            return pauses.all_paused(conn)

    def resume_tool(self, tool: str) -> bool:
        """Push to ``tool`` again (after its credentials were fixed); True if it was paused."""
        with self.transaction() as conn:
            return pauses.resume(conn, tool)

    # -- timers ------------------------------------------------------------------------
    def claim_due_timers(
        self,
        now: datetime | None = None,
        limit: int = 100,
        worker: str = "tick",
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> list[DueTimer]:
        with self.transaction() as conn:
            rows = timers.claim_due(conn, _now(now), limit, worker, timedelta(seconds=lease_seconds))
        return [timers.due(row) for row in rows]

    def failed(self, limit: int = 200) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What failed and is kept for inspection, latest first: inbox rows (facts) and
        timers, each with its reason."""
        with self._read() as conn:
            return inbox.failed(conn, limit), timers.failed(conn, limit)

    def retry_failed_inbox(self, ids: Sequence[int] | None = None) -> list[int]:
        """Failed inbox rows (these, or all) pending again: the next process-inbox decides
        them anew. Returns their ids."""
        with self.transaction() as conn:
            return inbox.retry_failed(conn, ids)

    def retry_failed_timers(self, onboarding_ids: Sequence[str] | None = None,
                            now: datetime | None = None) -> int:
        """Timers kept as failed (of these onboardings, or all) pending again: the next tick
        fires them at their own moment. Returns how many."""
        with self.transaction() as conn:
            return timers.retry_failed(conn, _now(now), onboarding_ids)

    def load_states(self, onboarding_ids: Iterable[str]) -> dict[str, Onboarding]:
        """The states of many onboardings in one read (missing ones are left out)."""
        with self._read() as conn:
            return state.load_many(conn, onboarding_ids)

    def commit_firings(self, fired: Sequence[Firing], now: datetime | None = None) -> list[Firing | LedgerError]:
        """A claim of fired timers with their decisions, in ONE transaction (``kickoff.ledger.firing``).

        If any of them cannot be written, each is then committed alone, so the others still
        commit. Returns, per firing, the firing as committed, or the ``LedgerError`` that left
        it out (its claim was lost, its onboarding changed: its timer stays claimed until the
        lease runs out, then fires again). A firing whose decision the database refuses (a
        value too long, a missing one) is committed as failed, with the database's reason.
        """
        at = _now(now)
        try:
            planned = firing.plan(fired, at, self.database.dialect)  # before the write lock is taken
            with self.transaction() as conn:
                firing.write(conn, planned, at)
            return list(fired)
        except LedgerError as exc:
            if len(fired) == 1:
                return [exc]
        except REFUSED_BY_THE_DATABASE as exc:
            if len(fired) == 1:
                return [self._keep_failed(fired[0], exc, at)]
        return [self._commit_firing(one, at) for one in fired]

    def _commit_firing(self, one: Firing, at: datetime) -> Firing | LedgerError:
        """One firing in its own transaction; kept as failed if the database refuses it."""
        try:
            with self.transaction() as conn:
                firing.commit_firings(conn, [one], at)
            return one
        except LedgerError as exc:
            return exc
        except REFUSED_BY_THE_DATABASE as exc:
            return self._keep_failed(one, exc, at)

    def _keep_failed(self, one: Firing, refused: Exception, at: datetime) -> Firing:
        """``one`` committed as failed, with the reason the database refused what it decided."""
        if one.failure is not None:
            raise refused  # even keeping it as failed was refused: not what it decided
        failed = replace(one, decision=None, failure=failure_reason(refused))
        with self.transaction() as conn:
            firing.commit_firings(conn, [failed], at)
        return failed

    # -- cursors -----------------------------------------------------------------------
    def get_cursor(self, tool: str, stream: str) -> str | None:
        with self._read() as conn:
            return cursors.get(conn, tool, stream)

    def advance_cursor(
        self, tool: str, stream: str, value: str, now: datetime | None = None
    ) -> None:
        with self.transaction() as conn:
            cursors.advance(conn, tool, stream, value, _now(now))

    # -- webhook secrets (sealed: kickoff.ledger.sealing) -------------------------------
    def arm_webhook_handshake(self, tool: str, name: str, until: datetime, now: datetime) -> None:
        """Accept one handshake for ``tool``'s webhook ``name`` until ``until`` (call it just
        before asking the vendor to create the webhook)."""
        with self.transaction() as conn:
            webhook_secrets.arm(conn, tool, name, as_utc(until), as_utc(now))

    def accept_webhook_secret(self, tool: str, name: str, secret: str, now: datetime) -> bool:
        """Keep ``secret`` (sealed) if a handshake is armed for (tool, name) and not expired;
        disarms it, so a second handshake is refused. False: not armed, nothing kept."""
        at = as_utc(now)
        sealed = self._secrets().seal(secret, at)
        with self.transaction() as conn:
            return webhook_secrets.accept(conn, tool, name, sealed, at)

    def webhook_secret(self, tool: str, name: str) -> str | None:
        """The secret kept for (tool, name), opened; None if there is none."""
        with self._read() as conn:
            sealed = webhook_secrets.sealed(conn, tool, name)
        return self._secrets().open(sealed) if sealed else None

    def keep_webhook_secret(self, tool: str, name: str, secret: str, now: datetime) -> None:
        """Keep (sealed) a signing secret Kickoff read from the vendor for its webhook ``name``."""
        at = as_utc(now)
        sealed = self._secrets().seal(secret, at)
        with self.transaction() as conn:
            webhook_secrets.keep(conn, tool, name, sealed, at)

    def webhook_secrets(self, tool: str) -> list[str]:
        """Every secret kept for ``tool``'s webhooks, opened (a delivery signed by one is the tool's)."""
        with self._read() as conn:
            found = webhook_secrets.sealed_all(conn, tool)
        return [self._secrets().open(sealed) for sealed in found]

    def forget_webhook_secret(self, tool: str, name: str, now: datetime) -> None:
        """After deleting the webhook: its path accepts no signed deliveries any more."""
        with self.transaction() as conn:
            webhook_secrets.forget(conn, tool, name, as_utc(now))

    def _secrets(self) -> Sealer:
        if self._sealer is None:
            self._sealer = sealer_for(self._settings)
        return self._sealer

    # -- adoption (``kickoff adopt --apply``) ------------------------------------------------
    def adopt(self, onboarding: Onboarding, done: Sequence[Action], pending: Sequence[Timer],
              links: Sequence[tuple[str, str, str, str]], lines: Sequence[str], now: datetime) -> bool:
        """Enter an onboarding already running in a tool, in one transaction (see
        ``kickoff.ledger.adoption``); False when the ledger holds it already."""
        with self.transaction() as conn:
            return adoption.adopt(conn, onboarding, done, pending, links, lines, as_utc(now))

    # -- crosswalk ---------------------------------------------------------------------
    def link(
        self,
        canonical_id: str,
        tool: str,
        external_id: str,
        object_kind: str,
        now: datetime | None = None,
    ) -> bool:
        with self.transaction() as conn:
            return crosswalk.link(conn, canonical_id, tool, external_id, object_kind, _now(now))

    def canonical_for(
        self, tool: str, external_id: str, object_kind: str | None = None
    ) -> str | None:
        with self._read() as conn:
            return crosswalk.canonical_for(conn, tool, external_id, object_kind)

    def external_for(
        self, canonical_id: str, tool: str, object_kind: str | None = None
    ) -> str | None:
        with self._read() as conn:
            return crosswalk.external_for(conn, canonical_id, tool, object_kind)

    # -- echo suppression --------------------------------------------------------------
    def is_echo(
        self,
        tool: str,
        record_id: str,
        fingerprint: str,
        now: datetime | None = None,
        window: timedelta = DEFAULT_ECHO_WINDOW,
    ) -> bool:
        """Is this change only Kickoff's own write (same fingerprint, within ``window``)?"""
        with self._read() as conn:
            return journal.is_echo(conn, tool, record_id, fingerprint, _now(now), window)

    def journal_write(
        self, tool: str, record_id: str, fingerprint: str, now: datetime | None = None
    ) -> None:
        """Note a write made outside ``record_result`` (e.g. a connector's own fingerprint)."""
        with self.transaction() as conn:
            journal.record(conn, tool, record_id, fingerprint, _now(now))

    def prune_journal(self, before: datetime) -> int:
        with self.transaction() as conn:
            return journal.prune(conn, as_utc(before))

    # -- ops and inspection --------------------------------------------------------------
    def next_due(self, after: datetime | None = None) -> datetime | None:
        """The earliest pending timer or outbox row (later than ``after``); None when nothing waits."""
        with self._read() as conn:
            moment = status_mod.next_due(conn, as_utc(after) if after else None)
        return as_utc(moment) if moment is not None else None

    def due_outbox_tools(self, now: datetime | None = None) -> list[str]:
        with self._read() as conn:
            return status_mod.due_outbox_tools(conn, _now(now))

    def overdue(self, now: datetime | None = None, grace_seconds: float = 0.0,
                timer_grace_seconds: float = 0.0) -> status_mod.Overdue:
        """What no event or scheduled tick started: inbox and outbox work waiting for over
        ``grace_seconds``, timers due for over ``timer_grace_seconds`` (the safety sweep's one
        cheap read)."""
        moment = _now(now)
        with self._read() as conn:
            return status_mod.overdue(conn, moment, moment - timedelta(seconds=grace_seconds),
                                      moment - timedelta(seconds=timer_grace_seconds))

    def next_timer(self) -> datetime | None:
        """When the earliest pending timer is due (what the next tick is scheduled for)."""
        with self._read() as conn:
            return status_mod.next_timer(conn)  # MIN keeps the column's type: aware UTC

    def record_budget(self, budget: Budget) -> None:
        """Keep a vendor's latest daily count (shared by every worker)."""
        with self.transaction() as conn:
            budgets.record(conn, budget)

    def budget(self, tool: str, account: str) -> Budget | None:
        with self._read() as conn:
            return budgets.get(conn, tool, account)

    def budgets(self) -> list[Budget]:
        with self._read() as conn:
            return budgets.all_budgets(conn)

    def defer_outbox(self, ids: Sequence[int], worker: str, until: datetime,
                     now: datetime | None = None) -> int:
        """Hand claimed rows back to wait until ``until`` (a daily allowance's reset): pending,
        not an attempt, so waiting never makes a dead letter. Returns the rows released."""
        with self.transaction() as conn:
            return outbox.defer(conn, ids, worker, until, _now(now))

    def status(self, now: datetime | None = None) -> LedgerStatus:
        with self._read() as conn:
            return status_mod.status(conn, _now(now))

    def due_timers_at_least(self, wanted: int, now: datetime | None = None) -> bool:
        """Whether ``wanted`` timers or more are due (read no further than that)."""
        with self._read() as conn:
            return status_mod.due_timers_at_least(conn, _now(now), wanted)

    def inbox_row(self, inbox_id: int) -> dict[str, Any] | None:
        with self._read() as conn:
            return inbox.get(conn, inbox_id)

    def outbox_row(self, outbox_id: int) -> dict[str, Any] | None:
        with self._read() as conn:
            return outbox.get(conn, outbox_id)

    def earliest_retry(self, outbox_ids: Iterable[int]) -> datetime | None:
        """When the first of these rows still pending may be tried again: one read for the
        retry a push run schedules (None: none of them waits for a retry)."""
        with self._read() as conn:
            return outbox.earliest_retry(conn, outbox_ids)  # MIN keeps the column's type: aware UTC

    def outbox_rows(self, onboarding_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Read-only: every outbox row (of ``onboarding_ids``), oldest due first (the demo's timeline)."""
        with self._read() as conn:
            return outbox.rows(conn, onboarding_ids)

    def outbox_row_by_key(self, idempotency_key: str) -> dict[str, Any] | None:
        with self._read() as conn:
            return outbox.get_by_key(conn, idempotency_key)

    def timer_row(self, onboarding_id: str, key: str) -> dict[str, Any] | None:
        with self._read() as conn:
            return timers.get(conn, onboarding_id, key)

    def audit_for(self, onboarding_id: str) -> list[dict[str, Any]]:
        with self._read() as conn:
            return audit.lines_for(conn, onboarding_id)

    # -- one customer's story (``kickoff.ledger.story``) ----------------------------------
    def find_onboardings(self, text: str) -> list[story_mod.Found]:
        """Onboardings whose id is ``text``, or whose customer's name matches it (case and
        accents ignored)."""
        with self._read() as conn:
            return story_mod.find(conn, text)

    def story(self, onboarding_id: str) -> story_mod.Story | None:
        with self._read() as conn:
            return story_mod.story(conn, onboarding_id)

    def onboarding_summaries(self, now: datetime | None = None, *, tenant: str | None = None,
                             stage: str | None = None, idle: timedelta = story_mod.DEFAULT_IDLE,
                             ) -> list[story_mod.Summary]:
        with self._read() as conn:
            return story_mod.summaries(conn, _now(now), tenant=tenant, stage=stage, idle=idle)
