"""The dead-letter alert as a Prefect automation, made from ``config/alerts.yaml``.

Ops run Kickoff from the Prefect UI: an action that gave up emits ``kickoff.action.dead``,
and this automation turns it into a notification through the Prefect block the config names
(Slack, e-mail...), so nobody has to watch the event feed. ``sync_dead_letter_alert`` is
idempotent: run by ``kickoff up`` and ``kickoff alerts sync`` (after ``prefect deploy``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kickoff.yamlfile import load_yaml_model

AUTOMATION = "kickoff-dead-letter-alert"
FILE = "alerts.yaml"
Outcome = Literal["created", "updated", "unchanged"]


class DeadLetterAlert(BaseModel):
    """What the automation matches and what it says (templates on Prefect's ``event``)."""

    model_config = ConfigDict(extra="forbid")

    block: str | None = Field(default=None, description="<block type slug>/<block name> of a notification block")
    events: list[str] = Field(default_factory=lambda: ["kickoff.action.dead"], min_length=1)
    subject: str = "Kickoff: an action gave up"
    body: str = "{{ event.payload }}"

    @field_validator("block")
    @classmethod
    def _slug_and_name(cls, value: str | None) -> str | None:
        if value is not None and (value.count("/") != 1 or not all(value.split("/"))):
            raise ValueError(f"'<block type slug>/<block name>' such as slack-webhook/kickoff-ops, got {value!r}")
        return value


class AlertsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dead_letter: DeadLetterAlert = Field(default_factory=DeadLetterAlert)


def load_alerts(config_dir: Path) -> AlertsFile:
    """``config_dir/alerts.yaml`` (ConfigError naming file and field); defaults when absent."""
    path = Path(config_dir) / FILE
    return load_yaml_model(path, AlertsFile) if path.is_file() else AlertsFile()


class BlockMissing(LookupError):
    """The configured notification block is not on the Prefect server."""


def _block_document_id(ref: str) -> Any:
    from prefect.client.orchestration import get_client

    slug, name = ref.split("/")
    with get_client(sync_client=True) as client:
        try:
            return client.read_block_document_by_name(name=name, block_type_slug=slug).id
        except Exception as exc:  # noqa: BLE001 - ObjectNotFound, or a slug Prefect does not know
            raise BlockMissing(f"no Prefect block {ref} ({type(exc).__name__}): create it on the Blocks "
                               f"page, or set dead_letter.block in {FILE}") from None


def _wanted(alert: DeadLetterAlert) -> Any:
    """The automation as ``alert`` describes it (not saved)."""
    from prefect.automations import Automation
    from prefect.events.actions import DoNothing, SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture

    actions: list[Any] = [DoNothing()]
    if alert.block:
        actions = [SendNotification(block_document_id=_block_document_id(alert.block),
                                    subject=alert.subject, body=alert.body)]
    return Automation(
        name=AUTOMATION,
        description="An action gave up and is a dead letter: `kickoff ledger dead` lists them "
                    f"(notification block: {alert.block or 'none, set one in config/' + FILE}).",
        # every Kickoff resource: the action's tool, or the onboarding it belongs to
        trigger=EventTrigger(expect=set(alert.events), match={"prefect.resource.id": "kickoff.*"},
                             posture=Posture.Reactive, threshold=1),
        actions=actions,
    )


def _shape(automation: Any) -> dict[str, Any]:
    """What ``_wanted`` sets, comparable across reads (a trigger's id is random per object)."""
    shape = automation.model_dump(mode="json", include={"name", "description", "trigger", "actions", "enabled"})
    shape["trigger"].pop("id", None)
    shape["trigger"]["expect"] = sorted(shape["trigger"]["expect"])
    return dict(shape)


def sync_dead_letter_alert(config_dir: Path) -> tuple[Outcome, str | None]:
    """Create or update the automation on the Prefect server of ``PREFECT_API_URL``;
    returns what was done and the block it notifies through (None: it only shows up)."""
    from prefect.automations import Automation

    alert = load_alerts(config_dir).dead_letter
    wanted = _wanted(alert)
    try:
        current = Automation.read(name=AUTOMATION)
    except ValueError:  # not there yet
        wanted.create()
        return "created", alert.block
    if _shape(current) == _shape(wanted):
        return "unchanged", alert.block
    wanted.id = current.id
    wanted.update()
    return "updated", alert.block
