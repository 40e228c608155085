"""Events as people and platforms write them: the one format that ``kickoff schema events``
prints, and that events files (``kickoff simulate``, ``config/scenarios``) and
``POST /webhooks/events`` accept, read by the one function ``read_event``.

An event is one JSON object: ``type``, ``occurred_at``, ``subject`` and ``data`` (the event
type's own keys, no others), with ``id`` and ``tenant`` optional. It is the canonical
``kickoff.model.Event`` without ``source`` (Kickoff sets that), with two reading rules:

- a time without an offset (``occurred_at``, a meeting's ``start``) is the tenant's local
  time: the tenant simulated, or the event's ``tenant`` at ``/webhooks/events``;
- an event without ``id`` gets one derived from its content (type, time, subject, tenant,
  data), so the same event written twice is one event.

Values are read as JSON Schema reads them (strictly: ``"5"`` is no integer). ``timer.fired``
is Kickoff's own event and is never read from outside.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from kickoff.events import EVENT_DATA_MODELS, EventData, EventType, LocalDateTime
from kickoff.model import Event

INPUT_TYPES: tuple[EventType, ...] = tuple(t for t in EventType if t is not EventType.TIMER_FIRED)
"""Every event type an outside source may write (all but ``timer.fired``)."""


class EventRefused(ValueError):
    """An event that does not follow the format: each problem as (field, reason)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {reason}" if field else reason for field, reason in problems))

    @property
    def field(self) -> str:
        """The first problem's field (dotted, e.g. ``data.email``)."""
        return self.problems[0][0]


class _Envelope(BaseModel):
    """What every event says, whatever its type."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="unique per event; left out, it is derived from the event's content, so the "
                    "same event written twice is one event")
    type: str
    occurred_at: LocalDateTime = Field(description="when it happened")
    subject: str = Field(
        min_length=1, max_length=200,
        description="the customer: every event about one onboarding names the same subject")
    tenant: str | None = Field(
        default=None,
        description="a tenant of config/tenants.yaml: needed at /webhooks/events by an event that "
                    "starts an onboarding; in an events file, the tenant simulated (or left out)")


ENVELOPE_KEYS = tuple(_Envelope.model_fields) + ("data",)


def _title(event_type: EventType) -> str:
    return "".join(part.capitalize() for part in event_type.value.replace("_", ".").split(".")) + "Event"


def _event_model(event_type: EventType, data_model: type[EventData]) -> type[_Envelope]:
    needs_data = any(f.is_required() for f in data_model.model_fields.values())
    data_field = Field(description=data_model.__doc__ and data_model.__doc__.split("\n")[0])
    if not needs_data:
        data_field = Field(default_factory=data_model, description=data_field.description)
    return create_model(  # type: ignore[call-overload,no-any-return]
        _title(event_type), __base__=_Envelope,
        type=(Literal[event_type.value], Field(description="the event type")),
        data=(data_model, data_field),
    )


_MODELS = {t: _event_model(t, EVENT_DATA_MODELS[t]) for t in INPUT_TYPES}
_ADAPTER: TypeAdapter[Any] = TypeAdapter(
    Annotated[Union[tuple(_MODELS.values())], Field(discriminator="type")]  # noqa: UP007 - built at run time
)


def derived_id(event_type: str, occurred_at: str, subject: str, tenant: str | None, data: Any) -> str:
    """The id of an event written without one: a digest of what it says."""
    body = json.dumps([event_type, occurred_at, subject, tenant, data], sort_keys=True, ensure_ascii=False)
    return "evt-" + hashlib.sha256(body.encode()).hexdigest()[:24]


def read_event(raw: Any, zone: ZoneInfo | None = None) -> Event:
    """One written event -> the canonical ``Event``; ``EventRefused`` names every problem.

    ``zone``: the tenant's, in which a time without an offset is read (None: such a time is
    refused). Data comes out normalised (times with their offset, only the keys given).
    """
    if not isinstance(raw, dict):
        raise EventRefused([("", "an event is one JSON object with type, occurred_at, subject and data")])
    _check_type(raw.get("type"))
    try:
        parsed = _ADAPTER.validate_json(json.dumps(raw), strict=True, context={"zone": zone})
    except ValidationError as exc:
        raise EventRefused([_problem(str(raw["type"]), err) for err in exc.errors()]) from None
    data = parsed.data.model_dump(mode="json", exclude_unset=True)
    at = parsed.occurred_at.isoformat()
    event_id = parsed.id or derived_id(parsed.type, at, parsed.subject, parsed.tenant, data)
    return Event(id=event_id, type=parsed.type, occurred_at=parsed.occurred_at, subject=parsed.subject,
                 tenant=parsed.tenant, data=data)


def _check_type(value: Any) -> None:
    if value is None:
        raise EventRefused([("type", "missing: one of " + ", ".join(INPUT_TYPES))])
    if value == EventType.TIMER_FIRED:
        raise EventRefused([("type", "timer.fired is Kickoff's own event (a playbook's timer): "
                                     + "it is not read from files or platforms")])
    if not isinstance(value, str) or value not in EventType._value2member_map_:
        raise EventRefused([("type", f"unknown event type {value!r}; one of " + ", ".join(INPUT_TYPES))])


def _problem(event_type: str, err: Any) -> tuple[str, str]:
    loc = [str(p) for p in err["loc"][1:]]  # [0] is the event type (the union's tag)
    where = ".".join(loc)
    if err["type"] == "extra_forbidden":
        if loc[:1] == ["data"]:
            keys = EVENT_DATA_MODELS[EventType(event_type)].model_fields
            return where, f"unknown key; {event_type} data has: {', '.join(keys) or 'no keys'}"
        return where, f"unknown key; an event has: {', '.join(ENVELOPE_KEYS)}"
    if err["type"] == "missing":
        return where, "missing"
    return where, str(err["msg"]).removeprefix("Value error, ")


def events_schema() -> dict[str, Any]:
    """The JSON Schema of the format: one event, whose ``data`` follows its ``type``."""
    schema = _ADAPTER.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Kickoff event",
        "description": (
            "One event (a JSON object; in an events file, one a line, in time order). A time without "
            "an offset is the tenant's local time. Without id, the id is derived from the content. "
            "data holds the type's own keys only."),
        **schema,
        "examples": EXAMPLES,
    }


def _at(day: int, hour: int, minute: int = 0) -> str:
    return f"2026-03-{day:02d}T{hour:02d}:{minute:02d}:00+01:00"


EXAMPLES: list[dict[str, Any]] = [
    {"type": "contract.signed", "occurred_at": _at(2, 10), "subject": "example-customer",
     "data": {"account_name": "Example Company", "signed_on": "2026-03-02", "start_on": "2026-03-09",
              "main_user": "Alex Example", "main_user_email": "alex@example.com", "licences": 10,
              "self_onboarding": False, "plan": "Advanced"}},
    {"type": "payment.confirmed", "occurred_at": _at(2, 11), "subject": "example-customer",
     "data": {"account_name": "Example Company", "plan": "basic", "phone": "+33 1 00 00 00 00",
              "phone_type": "landline"}},
    {"type": "account.created", "occurred_at": _at(2, 14), "subject": "example-customer",
     "data": {"account_name": "Example Company", "origin": "diy", "network": "example-network",
              "email": "alex@example.com", "main_user": "Alex Example", "licences": 10}},
    {"type": "call.logged", "occurred_at": _at(3, 9), "subject": "example-customer",
     "data": {"outcome": "answered", "note": "wants a kick-off next week"}},
    {"type": "meeting.booked", "occurred_at": _at(3, 9, 30), "subject": "example-customer",
     "data": {"meeting_id": "m-1", "kind": "kickoff", "start": "2026-03-10T10:00:00+01:00", "duration_minutes": 45,
              "booked_by": "customer", "channel": "video"}},
    {"type": "meeting.rescheduled", "occurred_at": _at(4, 9), "subject": "example-customer",
     "data": {"meeting_id": "m-1", "kind": "kickoff", "start": "2026-03-11T10:00:00+01:00",
              "duration_minutes": 45}},
    {"type": "partner.online", "occurred_at": _at(5, 9), "subject": "example-customer",
     "data": {"online_on": "2026-03-05"}},
    {"type": "contact.made", "occurred_at": _at(5, 10), "subject": "example-customer",
     "data": {"session": 1, "channel": "video", "meeting_id": "m-1"}},
    {"type": "meeting.cancelled", "occurred_at": _at(6, 9), "subject": "example-customer",
     "data": {"meeting_id": "m-1", "kind": "kickoff"}},
    {"type": "meeting.no_show", "occurred_at": _at(11, 10, 15), "subject": "example-customer",
     "data": {"meeting_id": "m-1", "kind": "kickoff", "restart_onboarding": True}},
    {"type": "meeting.completed", "occurred_at": _at(12, 11), "subject": "example-customer",
     "data": {"meeting_id": "m-2", "kind": "kickoff", "start": "2026-03-12T10:00:00+01:00",
              "duration_minutes": 60}},
    {"type": "task.updated", "occurred_at": _at(12, 15), "subject": "example-customer",
     "data": {"task_key": "example-task", "status": "completed"}},
    {"type": "case.updated", "occurred_at": _at(13, 9), "subject": "example-customer",
     "data": {"case_id": "c-1", "case": "ticket", "status": "closed", "owner": "example-owner"}},
    {"type": "usage.reported", "occurred_at": _at(16, 9), "subject": "example-customer",
     "data": {"appointments": 7, "cash_register_used": True, "pss": True, "stripe_kyc": True}},
    {"type": "onboarding.paused", "occurred_at": _at(17, 9), "subject": "example-customer",
     "data": {"reason": "holidays", "resume_on": "2026-03-23"}},
    {"type": "onboarding.restarted", "occurred_at": _at(23, 9), "subject": "example-customer", "data": {}},
    {"type": "nps.received", "occurred_at": _at(24, 9), "subject": "example-customer",
     "data": {"score": 6, "comment": "the agenda is slow"}},
    {"type": "upsell.requested", "occurred_at": _at(24, 10), "subject": "example-customer",
     "data": {"description": "wants a second location"}},
    {"type": "hardware.requested", "occurred_at": _at(24, 11), "subject": "example-customer",
     "data": {"description": "a card reader"}},
    {"type": "request.submitted", "occurred_at": _at(25, 9), "subject": "example-customer",
     "data": {"submitter": "support", "subject": "Wants to cancel", "description": "finds it too expensive"}},
    {"type": "churn_risk.reported", "occurred_at": _at(25, 10), "subject": "example-customer",
     "data": {"kind": "churn", "description": "talks of cancelling"}},
    {"type": "red_alert.reported", "occurred_at": _at(26, 15), "subject": "example-customer",
     "data": {"competitor": "Example Rival", "competitor_date": "2026-04-09", "unresolved_tickets": 1}},
]
"""One event of each type an outside source writes, in time order: the schema's examples and
the README's."""
