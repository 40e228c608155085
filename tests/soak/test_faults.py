"""The soak's fault plan, on data: where faults are armed comes from the tool declarations and
the tenants' tools, and a plan is a function of its seed (so a failing seed replays)."""

from __future__ import annotations

from soak.faults import fault_targets, plan_for, webhook_vendors

PROCEDURES = ["one", "two", "three", "four", "five"]
ACTS = {"one": 3, "two": 5, "three": 2, "four": 4, "five": 1}


def test_faults_are_armed_only_on_tools_kickoff_calls_over_http() -> None:
    tenants = {"mixed": ["email", "dealbuilder", "hubspot", "slack"], "mail": ["email"]}
    served = {"dealbuilder", "hubspot", "slack"}  # the sandbox's HTTP vendors (e-mail is SMTP)
    # dealbuilder only calls Kickoff (no poll, no push); e-mail has no HTTP API to fault
    assert fault_targets(tenants, served) == {"mixed": ("hubspot", "slack"), "mail": ()}


def test_a_plan_is_a_function_of_its_seed_and_faults_only_its_procedures_tools() -> None:
    tools_of = {"one": ("hubspot",), "two": ("slack", "zendesk"), "three": ("movidesk",),
                "four": ("salesforce",), "five": ("asana", "slack")}
    for seed in range(1, 30):
        plan = plan_for(seed, PROCEDURES, ACTS, tools_of)
        assert plan.describe() == plan_for(seed, PROCEDURES, ACTS, tools_of).describe()
        allowed = {t for p in plan.procedures for t in tools_of[p]}
        assert plan.sandbox_rules and {rule["vendor"] for _, rule in plan.sandbox_rules} <= allowed
        assert list(plan.webhooks) == list(webhook_vendors())
    assert plan_for(3, PROCEDURES, ACTS, {}).sandbox_rules == []


def test_webhook_misbehaviour_is_armed_where_the_sandbox_takes_it() -> None:
    # the handshake tool's webhook is created through its API; the others get their target set
    assert "asana" not in webhook_vendors()
    assert {"hubspot", "salesforce", "zendesk", "movidesk", "dealbuilder"} <= set(webhook_vendors())
