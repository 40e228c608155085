"""The canonical onboarding model: one vocabulary for every tool.

Mappings turn vendor records into ``Event``s; the playbook engine turns events into
``Action``s and ``Timer``s; connectors turn actions back into vendor calls. Nothing here
does I/O.
"""

from __future__ import annotations

import hashlib
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from kickoff.events import EventType, validate_event_data
from kickoff.tools import tool_names


def _declared_tool(name: str) -> str:
    if name not in tool_names():
        raise ValueError(f"a declared tool ({', '.join(tool_names())}), got {name!r}")
    return name


Tool = Annotated[str, AfterValidator(_declared_tool)]
"""A tool's name, as declared in ``kickoff/tools/``."""
RULE_ID_PATTERN = r"^[ETAWM][0-9]{1,2}$"
CREATED_RECORDS_FACT = "_records"
"""The engine's own fact: create_record line -> idempotency key (read it with ``created_record``)."""
CYCLE_FACT = "_cycle"
"""The engine's own fact: the onboarding's current cycle (``n``, when and by which event it began)."""
OPEN_TASKS_FACT, DONE_TASKS_FACT = "_tasks", "_done"
"""The engine's own facts: this cycle's open tasks (line -> key), and the keys of its tasks done."""


def cycle_id(onboarding_id: str, cycle: int) -> str:
    """The canonical id under which the records of one cycle of an onboarding are linked in
    the crosswalk (the ticket a customer's second case came in on): the onboarding's own id
    for its first cycle, so links made before cycles existed keep their meaning, and
    ``<onboarding>#<n>`` for a later one."""
    return onboarding_id if cycle <= 1 else f"{onboarding_id}#{cycle}"


def split_cycle_id(canonical_id: str) -> tuple[str, int]:
    """(onboarding id, cycle) of a ``cycle_id``; any other id is (itself, 1)."""
    onboarding, mark, number = canonical_id.rpartition("#")
    if mark and number.isdigit() and int(number) > 1:
        return onboarding, int(number)
    return canonical_id, 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Account(_Model):
    """A customer company."""

    id: str
    tenant: str
    name: str
    org_number: str | None = None
    segment: Literal["A", "B", "C", "D"] | None = None
    owner: str | None = None
    refs: dict[str, str] = Field(default_factory=dict, description="tool -> that tool's record id")


class Contact(_Model):
    """A person at the customer (main user, referent, partner)."""

    id: str
    account_id: str
    name: str
    email: str | None = None
    phone: str | None = None
    role: str | None = None
    refs: dict[str, str] = Field(default_factory=dict)


class OnboardingStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


class Onboarding(_Model):
    """One customer's way through one playbook: the engine's state."""

    id: str
    tenant: str
    playbook: str
    stage: str
    status: OnboardingStatus = OnboardingStatus.ACTIVE
    owner: str | None = None
    account_id: str | None = None
    account_name: str | None = None
    signed_on: date | None = None
    start_on: date | None = None
    go_live_on: date | None = None
    refs: dict[str, str] = Field(default_factory=dict, description="tool -> that tool's record id")
    facts: dict[str, Any] = Field(default_factory=dict, description="what the playbook remembers")
    version: int = 0

    @property
    def cycle(self) -> int:
        """Which cycle runs: 1, then one more each time the customer comes back."""
        return int((self.facts.get(CYCLE_FACT) or {}).get("n", 1))

    @property
    def cycle_id(self) -> str:
        """The canonical id the records of the running cycle are linked under (``cycle_id``)."""
        return cycle_id(self.id, self.cycle)

    def created_record(self, line: str) -> str | None:
        """The idempotency key of the record the playbook's ``create_record`` line ``line``
        made for this onboarding (the ledger's crosswalk links it to the tool's id)."""
        return (self.facts.get(CREATED_RECORDS_FACT) or {}).get(line)

    def made_in_this_cycle(self, key: str) -> bool:
        """Whether the record or task Kickoff created by the action ``key`` belongs to the
        running cycle (the engine forgets a cycle's records and tasks when the next begins);
        in a first cycle everything does."""
        if self.cycle == 1:
            return True
        facts = self.facts
        made = {*(facts.get(CREATED_RECORDS_FACT) or {}).values(), *(facts.get(OPEN_TASKS_FACT) or {}).values(),
                *(facts.get(DONE_TASKS_FACT) or [])}
        return key in made


class MeetingOutcome(StrEnum):
    BOOKED = "booked"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


class Meeting(_Model):
    id: str
    onboarding_id: str
    kind: str
    start: AwareDatetime
    duration_minutes: int = Field(gt=0)
    outcome: MeetingOutcome = MeetingOutcome.BOOKED


class Task(_Model):
    """Work for a person, created in some tool, closed when the tool says it is done."""

    id: str
    onboarding_id: str
    subject: str
    tool: Tool
    rule: str = Field(pattern=RULE_ID_PATTERN)
    due: AwareDatetime
    owner: str | None = None
    status: Literal["open", "completed"] = "open"


class SignalKind(StrEnum):
    NPS = "nps"
    CHURN_RISK = "churn_risk"
    DOWNSELL_RISK = "downsell_risk"
    RED_ALERT = "red_alert"
    UPSELL = "upsell"
    HARDWARE_REQUEST = "hardware_request"


class Signal(_Model):
    """A retention or growth signal about an account."""

    id: str
    account_id: str
    kind: SignalKind
    received_at: AwareDatetime
    score: int | None = Field(default=None, ge=0, le=10)
    competitor_date: date | None = None
    note: str | None = None


class EventSource(_Model):
    """Where an event came from, so the audit can point back at the vendor's record."""

    tool: Tool | Literal["kickoff"]
    record_id: str | None = None
    delivery_id: str | None = None


class Event(_Model):
    """A canonical fact about one onboarding (its ``subject``)."""

    id: str
    type: EventType
    occurred_at: AwareDatetime
    subject: str = Field(description="the onboarding id (or the account key a mapping knows it by)")
    tenant: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    source: EventSource | None = None

    @model_validator(mode="after")
    def _data_matches_type(self) -> Event:
        validate_event_data(self.type, self.data)
        return self


class ActionKind(StrEnum):
    SET_STAGE = "set_stage"
    ASSIGN_OWNER = "assign_owner"
    CREATE_TASK = "create_task"
    COMPLETE_TASK = "complete_task"
    ADD_NOTE = "add_note"
    CREATE_RECORD = "create_record"
    POST_ACTION = "post_action"
    NOTIFY = "notify"


class Action(_Model):
    """One write to one tool, decided by the engine, carried out by a connector.

    ``idempotency_key`` is stable across retries and replays: the ledger stores an action
    once per key, and connectors record it in the tool so an unknown outcome can be
    looked up instead of written twice.
    """

    kind: ActionKind
    tool: Tool
    onboarding_id: str
    payload: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=8, max_length=64)
    rule: str = Field(pattern=RULE_ID_PATTERN, description="the rule in RULES.md that caused it")
    due_at: AwareDatetime
    caused_by_event: str | None = None
    caused_by_timer: str | None = None


def idempotency_key(*parts: object) -> str:
    """A short stable key from the parts that make an action unique (onboarding, rule, occasion)."""
    raw = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class Timer(_Model):
    """A wake-up call for one onboarding; ``key`` is unique per onboarding so re-setting replaces."""

    key: str
    onboarding_id: str
    fire_at: AwareDatetime
    rule: str = Field(pattern=RULE_ID_PATTERN)
    data: dict[str, Any] = Field(default_factory=dict)


class Decision(_Model):
    """What the engine decided for one event: committed to the ledger all at once."""

    state: Onboarding
    actions: list[Action] = Field(default_factory=list)
    set_timers: list[Timer] = Field(default_factory=list)
    cancel_timers: list[str] = Field(default_factory=list, description="timer keys to cancel")
    audit: list[str] = Field(default_factory=list, description="why, line by line, with rule ids")


class Delivery(_Model):
    """A raw fact as received (webhook) or read (poll), before any mapping: the inbox row."""

    tool: Tool | Literal["kickoff"]
    dedup_key: str = Field(min_length=1, max_length=255)
    kind: Literal["webhook", "poll"]
    received_at: AwareDatetime
    payload: Any
    record_id: str | None = None
    echo: bool = Field(default=False, description="only reports Kickoff's own write")
    account: str | None = Field(default=None, max_length=64,
                                description="the tenant's own account it came from; None: the tool's shared one")

    def from_account(self, account: str | None) -> Delivery:
        """This delivery as it came from ``account`` (a tenant's own; None or "default": the
        shared one): marked with it, its dedup key prefixed so two accounts' ids never collide."""
        if account in (None, "default"):
            return self
        return self.model_copy(update={"account": account, "dedup_key": f"{account}:{self.dedup_key}"[:255]})


class ResultStatus(StrEnum):
    DONE = "done"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    AUTH = "auth"


class ActionResult(_Model):
    """A connector's answer for one action."""

    idempotency_key: str
    status: ResultStatus
    external_id: str | None = None
    reason: str | None = None
    retry_after: float | None = None
    waits_for: str | None = None
    """A not-ready answer: the idempotency key of the action whose creation this one needs
    (the ledger ends the row dead, blocked, when that creation is dead)."""
