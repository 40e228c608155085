"""The canonical event vocabulary: what every mapping produces and every playbook reacts to.

Each event type has a small pydantic model for its ``data``; ``validate_event_data`` checks
an event's data against it, so a mapping that produces a malformed event fails loudly. Unknown
keys are refused (a misspelt ``startOn`` would otherwise read as a missing field). A time
without an offset is the tenant's local time: it is read in the zone passed as the validation
context ``{"zone": ZoneInfo}``, and refused where no zone is known (canonical events carry
offsets; ``kickoff.event_input`` reads events as people and platforms write them).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
)


class EventType(StrEnum):
    """Every fact Kickoff understands, whatever tool it came from."""

    CONTRACT_SIGNED = "contract.signed"
    ACCOUNT_CREATED = "account.created"
    PAYMENT_CONFIRMED = "payment.confirmed"
    MEETING_BOOKED = "meeting.booked"
    MEETING_COMPLETED = "meeting.completed"
    MEETING_NO_SHOW = "meeting.no_show"
    MEETING_RESCHEDULED = "meeting.rescheduled"
    MEETING_CANCELLED = "meeting.cancelled"
    CALL_LOGGED = "call.logged"
    ONBOARDING_PAUSED = "onboarding.paused"
    ONBOARDING_RESTARTED = "onboarding.restarted"
    USAGE_REPORTED = "usage.reported"
    NPS_RECEIVED = "nps.received"
    CHURN_RISK = "churn_risk.reported"
    RED_ALERT = "red_alert.reported"
    UPSELL_REQUESTED = "upsell.requested"
    HARDWARE_REQUESTED = "hardware.requested"
    CASE_UPDATED = "case.updated"
    TASK_UPDATED = "task.updated"
    CONTACT_MADE = "contact.made"
    REQUEST_SUBMITTED = "request.submitted"
    PARTNER_ONLINE = "partner.online"
    TIMER_FIRED = "timer.fired"


TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$"
TIME_HELP = "an ISO 8601 time, e.g. 2024-10-14T10:12:00+02:00 (without an offset: the tenant's local time)"


def _iso_time(value: Any) -> Any:
    """Only ISO 8601 text (or a datetime): no epoch numbers, no 'yesterday'."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.match(TIME_PATTERN, value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # e.g. 2024-02-30
    raise ValueError(TIME_HELP)


def _in_zone(value: datetime, info: ValidationInfo) -> datetime:
    """A time without an offset is read in the tenant's zone (the validation context's)."""
    if value.tzinfo is not None:
        return value
    zone = (info.context or {}).get("zone")
    if zone is None:
        raise ValueError("a time with an offset (without one it is the tenant's local time, "
                         "and no tenant is known here)")
    return value.replace(tzinfo=zone)


LocalDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_time),
    AfterValidator(_in_zone),
    WithJsonSchema({"type": "string", "pattern": TIME_PATTERN, "description": TIME_HELP}),
]
"""A time as events carry it: with an offset, or in the tenant's local time."""


class EventData(BaseModel):
    """Base of every event's data: known keys only, typed (a misspelt key is refused, not
    silently read as a missing field)."""

    model_config = ConfigDict(extra="forbid")


class ContractSigned(EventData):
    """A contract signed (Dealbuilder, Salesforce): the start of most onboardings."""

    account_name: str
    signed_on: date
    start_on: date | None = Field(default=None, description="delivery start / Starting Date")
    main_user: str | None = None
    country: str | None = None
    org_number: str | None = None
    main_user_email: str | None = None
    licences: int | None = None
    self_onboarding: bool | None = None
    plan: str | None = None


class AccountCreated(EventData):
    """An account created in the product (a network sign-up, the Assist product account)."""

    account_name: str
    origin: Literal["transformation", "diy"] | None = Field(default=None, description="E1: from a listing or from scratch")
    network: str | None = None
    leisure: bool = False
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="the account's e-mail address (E3 welcomes it)")
    main_user: str | None = None
    licences: int | None = None
    network_phone: str | None = Field(default=None, description="E3: the network's dedicated line, if it subscribed")


class PaymentConfirmed(EventData):
    """A new customer's first payment is confirmed (M1)."""

    account_name: str
    plan: str | None = None
    amount: float | None = None
    phone: str | None = None
    phone_type: Literal["landline", "mobile", "whatsapp"] | None = None
    whatsapp_exception: bool = Field(default=False, description="M3: the ticket states a WhatsApp exception")
    experienced: bool = Field(default=False, description="M6: already knows the product")
    client_id: str | None = Field(default=None, description="the customer's id in the tool that confirmed it")


class MeetingData(EventData):
    """A meeting booked, held, missed, moved or cancelled (kick-off, CORE session, AM meeting)."""

    meeting_id: str | None = None
    kind: str | None = None
    start: LocalDateTime | None = None
    duration_minutes: int | None = None
    booked_by: str | None = Field(default=None, description="who booked: customer, support, gr, gr_individual, am")
    restart_onboarding: bool | None = Field(default=None, description="A15: 'Restart onboarding' = Yes")
    channel: Literal["phone", "video"] | None = Field(default=None, description="M5: the customer's choice")
    phone: str | None = None
    phone_type: Literal["landline", "mobile", "whatsapp"] | None = None
    whatsapp_exception: bool | None = None
    next_start: LocalDateTime | None = Field(default=None, description="M9: the next appointment, fixed at the end")
    topics: str | None = None
    end_onboarding: bool = Field(default=False, description="M10: the customer or the plan's topics end it")


class CallLogged(EventData):
    outcome: Literal["answered", "no_answer"]
    note: str | None = None


class OnboardingPaused(EventData):
    reason: str | None = None
    resume_on: date | None = None


class UsageReported(EventData):
    appointments: int | None = None
    cash_register_used: bool | None = None
    pss: bool | None = None
    stripe_kyc: bool | None = None


class NpsReceived(EventData):
    score: int = Field(ge=0, le=10)
    comment: str | None = None


class ChurnRisk(EventData):
    kind: Literal["churn", "downsell"] = "churn"
    description: str | None = None
    open_opportunity: bool | None = Field(
        default=None, description="W2: the tool has a churn-risk opportunity still open (None: not read)")


class RedAlert(EventData):
    competitor: str | None = None
    competitor_date: date | None = None
    low_nps: bool = False
    recent_cancellation: bool = False
    unresolved_tickets: int = 0
    bugs: bool = False
    open_opportunity: bool | None = Field(
        default=None, description="W2: the tool has a churn-risk opportunity still open (None: not read)")


class RequestData(EventData):
    """An upsell or hardware purchase request from the alerts feed (W1)."""

    description: str | None = None
    ticket_link: str | None = None


class CaseUpdated(EventData):
    """A case, ticket or request changed in its tool (status, owner, description)."""

    case_id: str | None = None
    case: str | None = Field(default=None, description="which case: to_train, enable_marketplace, ticket, request")
    status: str | None = None
    owner: str | None = None
    subject: str | None = None
    description: str | None = None


class TaskUpdated(EventData):
    """A task (or a record) Kickoff created changed in its tool: done, or open again."""

    task_key: str | None = Field(default=None, description="Kickoff's key of the task (a mapping finds it)")
    task: str | None = Field(
        default=None, description="or the playbook's name of the task (its id:), for a source without the key")
    status: Literal["open", "completed"] | None = None


class ContactMade(EventData):
    """M7: the analyst reached the customer for a session."""

    session: int | None = None
    channel: str | None = None
    meeting_id: str | None = None


class RequestSubmitted(EventData):
    """W7/W8: a request submitted to the account managers' board (support's form)."""

    submitter: str | None = None
    subject: str | None = None
    partner_link: str | None = Field(default=None, description="support-desk link, or the churn-risk opportunity")
    description: str | None = None
    ticket_link: str | None = None
    no_meeting_reason: str | None = None
    churn_risk_type: str | None = None
    ideal_end_date: date | None = None
    meeting_day: date | None = None
    meeting_am: str | None = None


class PartnerOnline(EventData):
    """T7/T10: the venue is published and visible on the marketplace."""

    online_on: date | None = None


class TimerFired(EventData):
    """A timer set by a playbook is due (``kickoff.playbooks.timers.timer_event`` builds it).
    Kickoff's own event, never read from a file or a platform; its data also carries what the
    playbook's ``set_timer`` gave it."""

    model_config = ConfigDict(extra="allow")

    timer: str
    rule: str
    fire_at: datetime | None = Field(default=None, description="when it was set to fire")
    set_by: str | None = Field(default=None, description="id of the event that set it")


EVENT_DATA_MODELS: dict[EventType, type[EventData]] = {
    EventType.CONTRACT_SIGNED: ContractSigned,
    EventType.ACCOUNT_CREATED: AccountCreated,
    EventType.PAYMENT_CONFIRMED: PaymentConfirmed,
    EventType.MEETING_BOOKED: MeetingData,
    EventType.MEETING_COMPLETED: MeetingData,
    EventType.MEETING_NO_SHOW: MeetingData,
    EventType.MEETING_RESCHEDULED: MeetingData,
    EventType.MEETING_CANCELLED: MeetingData,
    EventType.CALL_LOGGED: CallLogged,
    EventType.ONBOARDING_PAUSED: OnboardingPaused,
    EventType.ONBOARDING_RESTARTED: EventData,
    EventType.USAGE_REPORTED: UsageReported,
    EventType.NPS_RECEIVED: NpsReceived,
    EventType.CHURN_RISK: ChurnRisk,
    EventType.RED_ALERT: RedAlert,
    EventType.UPSELL_REQUESTED: RequestData,
    EventType.HARDWARE_REQUESTED: RequestData,
    EventType.CASE_UPDATED: CaseUpdated,
    EventType.TASK_UPDATED: TaskUpdated,
    EventType.CONTACT_MADE: ContactMade,
    EventType.REQUEST_SUBMITTED: RequestSubmitted,
    EventType.PARTNER_ONLINE: PartnerOnline,
    EventType.TIMER_FIRED: TimerFired,
}


READ_ON_ARRIVAL = frozenset({"open_opportunity"})
"""Data a source reads about the subject when a fact arrives (what the tool says is open
now), not part of the fact: one alert delivered with it (an enriched webhook) and without it
(the export) is one occasion, so its actions are written once."""


def validate_event_data(event_type: EventType | str, data: dict[str, Any],
                        zone: ZoneInfo | None = None) -> EventData:
    """Parse ``data`` with the model of ``event_type`` (times without an offset read in
    ``zone``); raises pydantic.ValidationError."""
    return EVENT_DATA_MODELS[EventType(event_type)].model_validate(data, context={"zone": zone})
