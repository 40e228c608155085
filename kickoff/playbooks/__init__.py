"""The playbook engine: playbooks as data, one pure decision function, a simulator.

What the flows call::

    from kickoff.playbooks import decide, find_playbook, timer_event

    playbook = find_playbook("assist-se")                 # config/playbooks/assist-se.yaml
    decision = decide(state, event, now, playbook, tz=tenant.zone, tenant="assist")
    # decision is None when the event starts nothing (no onboarding yet)
    for timer in due_timers:                               # from the ledger
        decide(state, timer_event(timer), now, playbook, tz=tenant.zone)
"""

from kickoff.playbooks.check import Problem, check_files, check_playbook
from kickoff.playbooks.decide import PlaybookRuntimeError, decide, event_occasion
from kickoff.playbooks.events_file import EventsFileError, numbered_events, parse_events
from kickoff.playbooks.loader import (
    PlaybookError,
    find_playbook,
    load_playbook,
    playbook_files,
    playbooks_dir,
)
from kickoff.playbooks.rules import RULES, Rule
from kickoff.playbooks.simulate import (
    SimAction,
    SimIgnored,
    SimResult,
    simulate,
    to_jsonl,
    to_table,
)
from kickoff.playbooks.spec import Playbook
from kickoff.playbooks.timers import timer_event, timer_event_id

__all__ = [
    "RULES",
    "EventsFileError",
    "Playbook",
    "PlaybookError",
    "PlaybookRuntimeError",
    "Problem",
    "Rule",
    "SimAction",
    "SimIgnored",
    "SimResult",
    "check_files",
    "check_playbook",
    "decide",
    "event_occasion",
    "find_playbook",
    "load_playbook",
    "numbered_events",
    "parse_events",
    "playbook_files",
    "playbooks_dir",
    "simulate",
    "timer_event",
    "timer_event_id",
    "to_jsonl",
    "to_table",
]
