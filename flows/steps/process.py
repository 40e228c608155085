"""process-inbox and tick: inbox rows and due timers become canonical events, the playbook
decides, and state + actions + timers + links + "done" are committed in one transaction
(one per delivery, however many events it maps to; one per claim of due timers)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from flows import onboarding_events
from flows.prefect_events import Send, send_batch
from flows.runtime import Runtime
from flows.steps import MAX_LINES, helpers
from flows.steps.routing import tenant_of
from kickoff.contracts.errors import ErrorKind, VendorError
from kickoff.contracts.mapping import MappingError
from kickoff.failures import at_fault, failure_reason
from kickoff.gc_pause import paused_gc
from kickoff.ledger import Decided, Firing, SourceLink, state_after
from kickoff.ledger.audit import rule_of
from kickoff.ledger.errors import LedgerError
from kickoff.ledger.ledger import DEFAULT_LEASE_SECONDS
from kickoff.ledger.records import DueTimer, InboxItem
from kickoff.model import Decision, Delivery, Event, Onboarding
from kickoff.playbooks import decide, timer_event, timer_event_id
from kickoff.playbooks.simulate import did_nothing, why_ignored
from kickoff.playbooks.spec import Playbook

log = logging.getLogger("kickoff.flows.process")
CANONICAL = "kickoff"  # the tool name of canonical events (gateway.canonical)
ECHO_REASON = "echo: only reports Kickoff's own write"
HELPED_BACKLOG = 2
"""Claims' worth of due timers from which a tick starts its helpers (fewer: a fork would
cost more than the second core gives)."""


@dataclass
class ProcessReport:
    processed: int = 0
    ignored: int = 0
    echoes: int = 0
    failed: int = 0
    deferred: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    lines: list[dict[str, str]] = field(default_factory=list)
    """One per inbox row or timer handled, the first ``MAX_LINES``: what the run's table
    artifact and log show."""
    left_out: int = 0
    """Items handled beyond ``MAX_LINES``: counted above, not listed (a tick of 100,000
    timers kept 100 MB of lines, and a table or log of that length is read by nobody)."""
    failures: list[str] = field(default_factory=list)
    """The first ``MAX_LINES`` failed items, each in a few words (which, whose, why): what a
    run that ends Failed names, however many items came before them."""
    workers: dict[str, int] = field(default_factory=dict)
    """Items each process handled, when more than one shared the run (a tick's helpers)."""

    def add_actions(self, decision: Decision) -> None:
        for action in decision.actions:
            self.actions[action.tool] += 1

    def note(self, what: str, decisions: list[Decision] | None = None, *, subject: str = "",
             ignored: str = "", customer: str = "") -> None:
        """Remember one handled item: the onboarding and customer, the event or timer, the
        rules that decided, the actions written, or why it was ignored."""
        if len(self.lines) >= MAX_LINES:
            self.left_out += 1
            return
        decisions = decisions or []
        state = decisions[-1].state if decisions else None
        audit = [line for d in decisions for line in d.audit]
        rules = sorted({a.rule for d in decisions for a in d.actions} | {t.rule for d in decisions for t in d.set_timers}
                       | {r for r in map(rule_of, audit) if r})  # as the audit table's rule column has it
        self.lines.append({
            "onboarding": state.id if state else subject, "customer": (state.account_name if state else customer) or "",
            "what": what, "rules": ", ".join(rules),
            "actions": ", ".join(f"{a.tool} {a.kind.value}" for d in decisions for a in d.actions),
            "ignored": ignored[:200], "why": "; ".join(audit)[:300]})

    def fail(self, what: str, reason: str, *, subject: str = "") -> None:
        """One item kept as failed: counted, listed among the failures and noted."""
        self.failed += 1
        if len(self.failures) < MAX_LINES:
            self.failures.append(f"{what} of {subject}: {reason}" if subject else f"{what}: {reason}")
        self.note(what, subject=subject, ignored=f"failed: {reason}")

    def merge(self, other: ProcessReport) -> None:
        """Another worker's report of the same run added to this one (a tick's helpers):
        counts summed, its lines and failures after these, up to ``MAX_LINES`` each."""
        self.processed += other.processed
        self.ignored += other.ignored
        self.echoes += other.echoes
        self.failed += other.failed
        self.deferred += other.deferred
        self.actions.update(other.actions)
        room = MAX_LINES - len(self.lines)
        self.lines.extend(other.lines[:room])
        self.left_out += other.left_out + max(0, len(other.lines) - room)
        self.failures.extend(other.failures[:MAX_LINES - len(self.failures)])
        self.workers.update(other.workers)

    @property
    def handled(self) -> int:
        return self.processed + self.ignored + self.failed + self.deferred

    @property
    def tools_with_actions(self) -> list[str]:
        return sorted(self.actions)


def _tenant_key(event: Event, state: Onboarding | None) -> str:
    """The onboarding's tenant, or the one a starting event names."""
    tenant_key = state.tenant if state else event.tenant
    if tenant_key is None:
        raise MappingError("event names no tenant and no onboarding exists", field="tenant",
                           retry=False)
    return tenant_key


def _playbook(rt: Runtime, event: Event, state: Onboarding | None) -> Playbook:
    """The playbook that runs the onboarding: its own, or its tenant's for one not started."""
    return rt.playbook(state.playbook if state else rt.tenant(_tenant_key(event, state)).playbook)


def _decide(rt: Runtime, event: Event, state: Onboarding | None, now: datetime) -> Decision | None:
    """The playbook's decision on ``event`` given the onboarding's ``state`` (None: not started)."""
    tenant_key = _tenant_key(event, state)
    tenant = rt.tenant(tenant_key)
    playbook = _playbook(rt, event, state)
    return decide(state, event, now, playbook, tz=tenant.zone, tenant=tenant_key,
                  calendar=tenant.calendar, recent_days=tenant.recent_days)


def _source_link(event: Event, table: dict, state: Onboarding) -> SourceLink | None:
    """The record a fact came from becomes the record in that tool of the cycle the decision
    leaves running, when it has none yet (the Zendesk alert ticket that opened a case; a
    customer's next case, on its own ticket), so later writes of that cycle find it."""
    source = event.source
    if source is None or not source.record_id or source.tool == CANONICAL:
        return None
    kind = str(table.get("main_kind", "record"))
    return SourceLink(state.cycle_id, source.tool, source.record_id, kind)


def _decide_all(rt: Runtime, events: list[Event], table: dict, now: datetime,
                ignored: list[str] | None = None) -> list[Decided]:
    """Each event decided in turn; a later event about the same onboarding is decided on the
    state the earlier decision leaves, as if it had been committed already. An event the
    playbook does nothing with (no action, timer or change) is not a decision: why is added
    to ``ignored``, as the simulator says it."""
    states: dict[str, Onboarding | None] = {}
    decided: list[Decided] = []
    for event in events:
        if event.subject not in states:
            states[event.subject] = rt.ledger.load_state(event.subject)
        state = states[event.subject]
        decision = _decide(rt, event, state, now)
        if did_nothing(state, decision):
            if ignored is not None:
                ignored.append(f"{event.type}: {why_ignored(_playbook(rt, event, state), state, event, decision)}")
        elif decision is not None:
            states[event.subject] = state_after(decision)
            decided.append(Decided(decision, event.id, _source_link(event, table, decision.state)))
    return decided


def _canonical_event(rt: Runtime, delivery) -> Event:
    """A canonical event from our own platforms, as the gateway checked and stored it."""
    event = Event.model_validate(delivery.payload)
    if event.tenant not in rt.config.tenants:
        raise MappingError(f"{event.tenant!r} is not a configured tenant", field="tenant")
    return event


def _is_echo(rt: Runtime, item: InboxItem, now: datetime) -> bool:
    prints = rt.mapping(item.delivery.tool).delivery_fingerprints(item.delivery)
    return bool(prints) and all(
        rt.ledger.is_echo(item.delivery.tool, rid, fp, now=now) for rid, fp in prints)


def _subject(delivery: Delivery) -> str | None:
    """The subject a canonical event names (what it is about even if it fails)."""
    payload = delivery.payload if delivery.tool == CANONICAL else None
    subject = payload.get("subject") if isinstance(payload, dict) else None
    return subject if isinstance(subject, str) else None


def _what(delivery, event: Event | None = None) -> str:
    """The item as ops name it: the event's type, from which tool, by webhook or poll."""
    head = event.type.value if event is not None else "change"
    return f"{head} ({delivery.tool} {delivery.kind})"


def process_item(rt: Runtime, item: InboxItem, now: datetime, report: ProcessReport) -> None:
    """One inbox row: echo? -> events -> decisions. Bad input is kept as failed, never raised."""
    delivery = item.delivery
    about = _subject(delivery)  # the onboarding it is about, once known (its story lists it)
    try:
        if delivery.echo or (delivery.tool != CANONICAL and _is_echo(rt, item, now)):
            rt.ledger.ignore_inbox(item.id, ECHO_REASON, now=now)
            report.echoes += 1
            report.note(_what(delivery), ignored=ECHO_REASON)
            return
        if delivery.tool == CANONICAL:  # POST /webhooks/events (rule E1): the payload is the event
            events, table = [_canonical_event(rt, delivery)], {}
        else:
            if delivery.kind == "webhook" and delivery.tool in rt.config.tools:
                delivery = rt.connector(delivery.tool, delivery.account).enrich(delivery, now)
            tenant_key = delivery.account or tenant_of(rt, delivery)
            ctx = rt.mapping_context(delivery.tool, tenant_key, now)
            events, table = rt.mapping(delivery.tool).to_events(delivery, ctx), ctx.table
        if not events:
            rt.ledger.ignore_inbox(item.id, "no onboarding fact in this change", now=now)
            report.ignored += 1
            report.note(_what(delivery), ignored="no onboarding fact in this change")
            return
        about = events[-1].subject
        why: list[str] = []
        decided = _decide_all(rt, events, table, now, why)
        nothing = "; ".join(why) or f"{events[-1].type} starts or changes nothing"
        rt.ledger.commit_delivery(item.id, decided, ignored_because=nothing, about=about, now=now)  # all at once
        onboarding_events.delivery(rt, item, events, decided, nothing, now)
        for one in decided:
            report.add_actions(one.decision)
        report.processed += 1 if decided else 0
        report.ignored += 0 if decided else 1
        report.note(_what(delivery, events[-1]), [one.decision for one in decided], subject=events[-1].subject,
                    ignored="" if decided else nothing)
    except MappingError as exc:
        if exc.retry:
            report.deferred += 1  # the lease runs out and the row is claimed again later
            log.info("inbox %s deferred: %s", item.id, exc.reason)
        else:
            _fail(rt, item, f"{exc.field}: {exc.reason}", now, about, report)
    except LedgerError as exc:  # a concurrent commit, a lost claim: the row is tried again later
        log.info("inbox %s deferred: %s", item.id, type(exc).__name__)
        report.deferred += 1
    except VendorError as exc:  # reading the record behind a notice failed
        if exc.kind is ErrorKind.PERMANENT:
            _fail(rt, item, f"reading the record failed: {exc.reason}", now, about, report)
        else:
            report.deferred += 1
    except OSError as exc:  # the network or a file, not the row: tried again after the lease
        log.info("inbox %s deferred: %s", item.id, type(exc).__name__)
        report.deferred += 1
    except Exception as exc:  # bad data, a playbook line that cannot be carried out (or re-raised)
        if not at_fault(exc):
            raise  # the ledger itself: every row waits for it alike
        _fail(rt, item, failure_reason(exc), now, about, report)


def _fail(rt: Runtime, item: InboxItem, reason: str, now: datetime, about: str | None,
          report: ProcessReport) -> None:
    """The row kept as failed with ``reason`` (``kickoff onboarding show`` lists it), never raised."""
    rt.ledger.fail_inbox(item.id, reason, now=now, about=about)
    report.fail(_what(item.delivery), reason)


def process_inbox(rt: Runtime, now: datetime, *, worker: str = "process",
                  limit: int = 200) -> ProcessReport:
    """Drain what is pending in the inbox (one claim of up to ``limit`` rows at a time)."""
    report = ProcessReport()
    while True:
        items = rt.ledger.claim_inbox(worker, limit=limit, now=now)
        if not items:
            return report
        for item in items:
            process_item(rt, item, now, report)
        if len(items) < limit:
            return report


def tick(rt: Runtime, now: datetime, *, worker: str = "tick", limit: int = 500,
         processes: int | None = None, helped_from: int | None = None) -> ProcessReport:
    """Every due timer becomes a ``timer.fired`` event through the same decision. A claim's
    states are read at once and its decisions committed together (``Ledger.commit_firings``);
    a second timer of one onboarding is decided on the state the first one leaves.

    When ``helped_from`` timers or more are due (default: ``HELPED_BACKLOG`` claims' worth),
    ``processes - 1`` helper processes claim beside this one (``flows.steps.helpers``;
    default: two processes where there are two cores); their reports are merged into this one's."""
    report = ProcessReport()
    count = helpers.process_count(processes) - 1
    if count < 1 or not rt.ledger.due_timers_at_least(helped_from or HELPED_BACKLOG * limit, now):
        _tick_claims(rt, now, worker, limit, report, send_batch)
        return report
    started = helpers.start(count, worker, rt.ledger, lambda name, send: _tick_alone(rt, now, name, limit, send))
    try:
        _tick_claims(rt, now, worker, limit, report, send_batch)
    finally:  # the helpers waited for (never left running) even when this process's claims failed
        outcomes = helpers.finish(started, wait_seconds=DEFAULT_LEASE_SECONDS)
    report.workers[worker] = report.handled
    failed = []
    for outcome in outcomes:
        if outcome.result is not None:
            report.merge(outcome.result)
        send_batch(outcome.events)
        if outcome.error is not None:
            failed.append(f"{outcome.worker}: {outcome.error}")
    log.info("tick in %d processes: %s", len(report.workers),
             ", ".join(f"{name} {n}" for name, n in report.workers.items()))
    if failed:
        raise helpers.HelperFailed("tick helper " + "; ".join(failed) + " (its claim fires again after the lease)")
    return report


def _tick_alone(rt: Runtime, now: datetime, worker: str, limit: int, send: Send) -> ProcessReport:
    """A helper's share of the tick: claims until none is full, its own report."""
    report = ProcessReport()
    _tick_claims(rt, now, worker, limit, report, send)
    report.workers[worker] = report.handled
    return report


def _tick_claims(rt: Runtime, now: datetime, worker: str, limit: int, report: ProcessReport,
                 send: Send) -> None:
    """Claims of due timers decided and committed until one is not full."""
    while True:
        with paused_gc():  # one claim's worth of short-lived objects (kickoff.gc_pause)
            due = _tick_claim(rt, now, worker, limit, report, send)
        if due < limit:
            return


def _tick_claim(rt: Runtime, now: datetime, worker: str, limit: int, report: ProcessReport,
                send: Send) -> int:
    """One claim of due timers decided and committed; how many were claimed."""
    due = rt.ledger.claim_due_timers(now=now, limit=limit, worker=worker)
    if not due:
        return 0
    states: dict[str, Onboarding | None] = dict(rt.ledger.load_states({t.onboarding_id for t in due}))
    again = Counter(t.onboarding_id for t in due)
    fired: list[Firing] = []
    try:
        for timer in due:
            again[timer.onboarding_id] -= 1
            fired.append(_fire(rt, timer, states, now, more=again[timer.onboarding_id] > 0))
    finally:  # what was decided is committed even if the ledger failed part-way
        _commit_claim(rt, fired, now, report, send)
    return len(due)


def _fire(rt: Runtime, timer: DueTimer, states: dict[str, Onboarding | None], now: datetime, *,
          more: bool) -> Firing:
    """One due timer decided. A decision that cannot be made (a playbook line that cannot be
    carried out, timer data the event refuses) is this timer's failure alone: it is kept as
    failed with the reason, and the rest of the claim fires. ``more``: another timer of the
    same onboarding follows in this claim, decided on the state this one leaves."""
    try:
        event = timer_event(timer.timer)
        decision = _decide(rt, event, states.get(timer.onboarding_id), now)
    except Exception as exc:  # one timer's failure, never the claim's (or re-raised)
        if not at_fault(exc):
            raise  # the ledger or the network: the claim is tried again after its lease
        reason = failure_reason(exc)
        log.warning("timer %s of %s failed: %s", timer.key, timer.onboarding_id, reason)
        return Firing(timer, None, timer_event_id(timer.timer), failure=reason)
    if decision is not None and more:
        states[timer.onboarding_id] = state_after(decision)
    return Firing(timer, decision, event.id)


def _commit_claim(rt: Runtime, fired: list[Firing], now: datetime, report: ProcessReport,
                  send: Send) -> None:
    """The claim's firings committed together, each reported, all told to Prefect in one request."""
    committed: list[Firing] = []  # the failed ones too: kept as failed
    for claimed, outcome in zip(fired, rt.ledger.commit_firings(fired, now=now), strict=True):
        timer = claimed.timer
        if isinstance(outcome, LedgerError):
            log.info("timer %s deferred: %s", timer.key, outcome)
            report.deferred += 1
            continue
        firing = outcome  # as committed: failed, if the database refused what it decided
        committed.append(firing)
        what = f"timer {timer.key} ({timer.timer.rule}, due {timer.timer.fire_at:%Y-%m-%d %H:%M})"
        if firing.failure is not None:
            report.fail(what, firing.failure, subject=timer.onboarding_id)
        elif firing.decision is None:
            report.ignored += 1
            report.note(what, subject=timer.onboarding_id, ignored="the playbook does nothing with it now")
        else:
            report.processed += 1
            report.add_actions(firing.decision)
            report.note(what, [firing.decision])
    onboarding_events.timers_fired(rt, committed, now, send)
