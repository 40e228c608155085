"""The alerts as Prefect automations, made from ``config/alerts.yaml``.

Ops run Kickoff from the Prefect UI; what needs a person is announced as an event, and an
automation per kind turns it into a notification through the Prefect block the config names
(Slack, e-mail...), so nobody has to watch the event feed: a push run whose actions gave up
(``kickoff.push.dead_letters``, dead letters) and a tick run with timers whose firing could
not be decided (``kickoff.tick.timers_failed``: their onboardings wait until the playbook is
fixed and the timers retried). One event per run, however many items: one bug fails them
all. ``sync_alerts`` is idempotent: run by ``kickoff up`` and ``kickoff alerts sync`` (after
``prefect deploy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kickoff.yamlfile import load_yaml_model

FILE = "alerts.yaml"
Outcome = Literal["created", "updated", "unchanged"]


class Alert(BaseModel):
    """What one automation matches and what it says (templates on Prefect's ``event``)."""

    model_config = ConfigDict(extra="forbid")

    block: str | None = Field(default=None, description="<block type slug>/<block name> of a notification block")
    events: list[str] = Field(min_length=1)
    subject: str
    body: str = "{{ event.payload }}"

    @field_validator("block")
    @classmethod
    def _slug_and_name(cls, value: str | None) -> str | None:
        if value is not None and (value.count("/") != 1 or not all(value.split("/"))):
            raise ValueError(f"'<block type slug>/<block name>' such as slack-webhook/kickoff-ops, got {value!r}")
        return value


class DeadLetterAlert(Alert):
    events: list[str] = Field(default_factory=lambda: ["kickoff.push.dead_letters"], min_length=1)
    subject: str = "Kickoff: actions gave up"


class FailedTimerAlert(Alert):
    events: list[str] = Field(default_factory=lambda: ["kickoff.tick.timers_failed"], min_length=1)
    subject: str = "Kickoff: a timer failed"


class AlertsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dead_letter: DeadLetterAlert = Field(default_factory=DeadLetterAlert)
    failed_timer: FailedTimerAlert = Field(default_factory=FailedTimerAlert)


@dataclass(frozen=True)
class AlertKind:
    """One alert's automation: its name on the Prefect server, the alerts.yaml section it is
    made from, and what it tells ops in its description."""

    name: str
    section: str
    about: str


ALERTS = (
    AlertKind("kickoff-dead-letter-alert", "dead_letter",
              "A push run's actions gave up and are dead letters: `kickoff ledger dead` lists them, "
              "`kickoff ledger replay` sends them again"),
    AlertKind("kickoff-failed-timer-alert", "failed_timer",
              "A timer could not be decided and is kept as failed: `kickoff ledger failed` lists them, "
              "`kickoff ledger retry-timers` fires them again once the playbook is fixed"),
)


@dataclass(frozen=True)
class Synced:
    """What syncing one alert did, and the block it notifies through (None: only the UI)."""

    kind: AlertKind
    outcome: Outcome
    block: str | None


def load_alerts(config_dir: Path) -> AlertsFile:
    """``config_dir/alerts.yaml`` (ConfigError naming file and field); defaults when absent."""
    path = Path(config_dir) / FILE
    return load_yaml_model(path, AlertsFile) if path.is_file() else AlertsFile()


class BlockMissing(LookupError):
    """The configured notification block is not on the Prefect server."""


def _block_document_id(ref: str, section: str) -> Any:
    from prefect.client.orchestration import get_client

    slug, name = ref.split("/")
    with get_client(sync_client=True) as client:
        try:
            return client.read_block_document_by_name(name=name, block_type_slug=slug).id
        except Exception as exc:  # noqa: BLE001 - ObjectNotFound, or a slug Prefect does not know
            raise BlockMissing(f"no Prefect block {ref} ({type(exc).__name__}): create it on the Blocks "
                               f"page, or set {section}.block in {FILE}") from None


def _wanted(kind: AlertKind, alert: Alert) -> Any:
    """The automation as ``alert`` describes it (not saved)."""
    from prefect.automations import Automation
    from prefect.events.actions import DoNothing, SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture

    actions: list[Any] = [DoNothing()]
    if alert.block:
        actions = [SendNotification(block_document_id=_block_document_id(alert.block, kind.section),
                                    subject=alert.subject, body=alert.body)]
    return Automation(
        name=kind.name,
        description=f"{kind.about} (notification block: "
                    f"{alert.block or 'none, set ' + kind.section + '.block in config/' + FILE}).",
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


def sync_alerts(config_dir: Path) -> list[Synced]:
    """Create or update every alert's automation on the Prefect server of ``PREFECT_API_URL``;
    says, per automation, what was done and the block it notifies through (None: it only
    shows up in the UI). The file is read, and every block found, before anything is saved."""
    alerts = load_alerts(config_dir)
    wanted = [(kind, getattr(alerts, kind.section)) for kind in ALERTS]
    made = [(kind, alert, _wanted(kind, alert)) for kind, alert in wanted]  # every block found before saving
    return [Synced(kind, _save(kind.name, automation), alert.block) for kind, alert, automation in made]


def _save(name: str, wanted: Any) -> Outcome:
    from prefect.automations import Automation

    try:
        current = Automation.read(name=name)
    except ValueError:  # not there yet
        wanted.create()
        return "created"
    if _shape(current) == _shape(wanted):
        return "unchanged"
    wanted.id = current.id
    wanted.update()
    return "updated"
