"""The rule catalogue of ../shared/RULES.md, as data: every playbook line names one of these.

Kept in code (not parsed from the markdown) so the engine and ``playbook check`` work in a
deployment that only ships the package. ``tests/playbooks`` checks it against RULES.md.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES: dict[str, str] = {
    "E": "network-onboarding",
    "T": "marketplace-classic",
    "A": "assist-se",
    "W": "retention-alerts",
    "M": "core-implementation",
}


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    title: str

    @property
    def is_check(self) -> bool:
        """A check must create a task or an alert when it fails, never pass silently."""
        return "check" in self.kind


def _r(id: str, kind: str, title: str) -> tuple[str, Rule]:
    return id, Rule(id, kind, title)


RULES: dict[str, Rule] = dict(
    [
        _r("E1", "auto (ingest)", "sign-up carries transformation or DIY"),
        _r("E2", "auto", "referents and onboarding team notified on account creation"),
        _r("E3", "auto", "personalised welcome e-mail 30 minutes after creation"),
        _r("E4", "auto", "appointment confirmation, reminders 1 day and 1 hour before"),
        _r("E5", "task", "phone the professional within 2 days of creation"),
        _r("E6", "task", "regular follow-ups after onboarding"),
        _r("T1", "auto (fee line/flag)", "149 EUR set-up fee for classic onboarding"),
        _r("T2", "auto (ingest)", "self-onboarding unticked: classic onboarding"),
        _r("T3", "check", "starting date within 14 days after signature"),
        _r("T4", "task", "training webinar 3 days before the starting date"),
        _r("T5", "auto", "starting date is go-live and start of billing"),
        _r("T6", "auto (assignment rule)", "account to an AM, status Training, case To train"),
        _r("T7", "task", "To train: first call, webinar, call after webinar, complete when online"),
        _r("T8", "check", "Check Usage: Enable Marketplace criteria"),
        _r("T9", "check", "15-point recap checklist before validation"),
        _r("T10", "task", "publish the venue: visible on the agreed date"),
        _r("T11", "auto (owner reassignment)", "Enable Marketplace completed: account active"),
        _r("A1", "auto", "signed contract creates the SE ticket in stage Ny"),
        _r("A2", "auto", "day after delivery start at 08:00: Onboarding pagar + welcome"),
        _r("A3", "auto", "note Ny kund tags the new-customer coordinator"),
        _r("A4", "check", "main user, e-mail and licences match the contract"),
        _r("A5", "auto", "ticket owner No owner; contracts team registers, billing starts"),
        _r("A6", "task", "pre-onboarding in the customer's account"),
        _r("A7", "task", "call the main user; answered: book kick-off, close ticket"),
        _r("A8", "auto", "no answer: note; call tasks day 3, day 7 and on"),
        _r("A9", "auto", "two e-mails asking to book the kick-off"),
        _r("A10", "auto", "30 days without booking: Ma foljas upp, two more e-mails"),
        _r("A11", "auto", "Manuell uppfoljning pauses the automatic flow"),
        _r("A12", "auto", "60 days without booking: Inaktiva kunder, manual work"),
        _r("A13", "auto", "meeting booked: team e-mailed, Avslutad, flow stops"),
        _r("A14", "auto + task", "after kick-off: segment, outcome Completed, SAM owner"),
        _r("A15", "auto", "cancelled or rebooked meeting restarts the flow"),
        _r("W1", "auto", "alerts handled same day; done only with meeting or assigned case"),
        _r("W2", "auto", "churn risk: opportunity and task rdc infos & rdv today"),
        _r("W3", "auto", "red alert: task next day or a week before; churn risk if alarms"),
        _r("W4", "auto", "NPS bands; medium and low get a follow-up meeting"),
        _r("W5", "check", "meeting already set by support: case owned by AM, in progress"),
        _r("W6", "auto", "case stages New, Assigned, In progress, Closed"),
        _r("W7", "auto", "request board: new request, waiting, meeting set or resolved"),
        _r("W8", "check", "request required and optional fields"),
        _r("W9", "task", "verify the meeting, or call to offer one with the AM"),
        _r("M1", "auto", "payment confirmed creates the implementation ticket"),
        _r("M2", "auto", "one ticket for the whole onboarding, closed only at the end"),
        _r("M3", "check + auto", "GR confirms the appointment; landline mandatory"),
        _r("M4", "task", "GR books the slot in the analyst's calendar"),
        _r("M5", "task", "session by phone or video, remote access"),
        _r("M6", "check", "at least 2 appointments, each fixing the next"),
        _r("M7", "auto", "no contact: alert at 5 minutes, actions at 15"),
        _r("M8", "auto", "customer cancels: GR action, follow up to reschedule"),
        _r("M9", "auto + task", "end of each appointment: next topics, next date, action"),
        _r("M10", "auto", "end of onboarding after at least 2 appointments"),
    ]
)


def family_of(rule_id: str) -> str:
    """The rule family letter (E, T, A, W, M)."""
    return rule_id[:1]
