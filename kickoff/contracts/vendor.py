"""An action in one tool's own terms: the payload a mapping produces and a connector writes.

Each tool declares, in ``kickoff.tools.<tool>``, one ``VendorPayload`` model per action kind
it takes. ``VendorAction.of`` validates a payload against that model, so a payload that does
not fit is refused where it is made (the mapping) and never reaches the vendor; connectors
read typed fields instead of dict keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, SerializeAsAny, ValidationError

from kickoff.model import Action, ActionKind
from kickoff.tools import payload_model

T = TypeVar("T")


class VendorPayload(BaseModel):
    """Base of every tool's payload models: unknown fields are mistakes, and refused."""

    model_config = ConfigDict(extra="forbid")

    def needs_any(self, what: str, *fields: str) -> Self:
        """``self`` when one of ``fields`` holds something (not None, an empty text or list);
        else a ValueError such as ``assign_owner needs assignee_id or group_id``: what the
        vendor would refuse later, said where the payload is made (call it from a model
        validator)."""
        if all(_empty(getattr(self, name)) for name in fields):
            raise ValueError(f"{what} needs {', '.join(fields[:-1])} or {fields[-1]}")
        return self


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


class PayloadRefused(ValueError):
    """A payload that does not fit the tool's model for its action kind."""

    def __init__(self, tool: str, kind: str, field: str, reason: str) -> None:
        self.tool, self.kind, self.field, self.reason = tool, kind, field, reason
        super().__init__(f"{tool} {kind}: {field}: {reason}")


class _OfAction(Generic[T]):
    """A read-only attribute of a ``VendorAction``'s canonical ``action``, by the same name."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: VendorAction | None, owner: type | None = None) -> T:
        if obj is None:
            raise AttributeError(f"{self.name} is read from a VendorAction's action")
        return getattr(obj.action, self.name)


class VendorAction(BaseModel):
    """A canonical action (its key, rule, onboarding and due time) with its payload in one
    tool's terms. Built with ``of``, which validates the payload."""

    model_config = ConfigDict(frozen=True, ignored_types=(_OfAction,))

    action: Action
    payload: SerializeAsAny[VendorPayload]

    kind = _OfAction[ActionKind]()
    tool = _OfAction[str]()
    idempotency_key = _OfAction[str]()
    onboarding_id = _OfAction[str]()
    rule = _OfAction[str]()
    due_at = _OfAction[datetime]()

    @classmethod
    def of(cls, action: Action, payload: VendorPayload | Mapping[str, Any]) -> VendorAction:
        """Validate ``payload`` against the tool's model for the action's kind."""
        model = payload_model(action.tool, action.kind)
        if model is None:
            raise PayloadRefused(action.tool, action.kind.value, "kind", "this tool takes no such action")
        try:
            data = payload.model_dump(exclude_unset=True) if isinstance(payload, BaseModel) else dict(payload)
            typed = model.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "payload"
            raise PayloadRefused(action.tool, action.kind.value, field, err["msg"]) from None
        return cls(action=action, payload=typed)
