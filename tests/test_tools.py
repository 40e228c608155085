"""Every declared tool (``kickoff/tools/<tool>.py``) has each of its pieces, and every list of
tools is derived from the declarations: the gateway's routes, the deployments (and
``prefect.yaml``), the sandbox's vendors. Adding a tool without one of its pieces fails here,
naming the piece."""

from __future__ import annotations

import ast
import inspect
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from flows.deployments import all_deployments, deployments, prefect_yaml
from kickoff.contracts.vendor import VendorPayload
from kickoff.model import ActionKind
from kickoff.playbooks.loader import load_playbook, playbook_files
from kickoff.tools import declared, payload_model, plugin, spec, tool_names

REPO = Path(__file__).resolve().parents[1]
TOOLS = tool_names()


def test_tools_are_declared_and_none_takes_a_reserved_route() -> None:
    assert len(TOOLS) >= 8 and [t.name for t in declared()] == list(TOOLS)
    assert not {"events", "kickoff"} & set(TOOLS)  # /webhooks/events, the canonical intake's tool


# --- the pieces one adds with a tool ------------------------------------------------------------
@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_has_a_connector(tool: str) -> None:
    connector = plugin("connectors", tool, "CONNECTOR")
    assert inspect.isclass(connector), f"connectors/{tool}.py: CONNECTOR is not a class"
    assert connector.tool == tool


@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_has_a_mapping_and_its_yaml(tool: str) -> None:
    assert plugin("mappings", tool, "MAPPING").tool == tool
    assert (REPO / "config" / "mappings" / f"{tool}.yaml").is_file(), f"config/mappings/{tool}.yaml"


@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_has_a_sandbox_vendor(tool: str) -> None:
    from sandbox.vendors.base import Vendor

    vendor = plugin("sandbox.vendors", tool, "VENDOR")
    assert inspect.isclass(vendor) and issubclass(vendor, Vendor) and vendor.name == tool
    if vendor.webhook_secret is not None:  # the stack hands this credential to the sandbox
        assert vendor.webhook_secret in vendor.default_credentials


def test_the_sandbox_serves_every_declared_tool_and_no_other() -> None:
    from sandbox.state import Sandbox

    assert sorted(Sandbox(limits_enabled=False).vendors) == sorted(TOOLS)


@pytest.mark.parametrize("tool", TOOLS)
def test_a_webhook_route_exactly_for_the_tools_that_declare_webhooks(tool: str, tmp_path: Path) -> None:
    routes = _gateway_routes(tmp_path)
    hooks = spec(tool).webhooks
    assert ((f"/webhooks/{tool}", "POST") in routes) == (hooks is not None)
    assert ((f"/webhooks/{tool}/{{name}}", "POST") in routes) == bool(hooks and hooks.handshake)


@pytest.mark.parametrize("tool", TOOLS)
def test_poll_and_push_deployments_exactly_for_the_tools_that_poll_and_push(tool: str) -> None:
    names = {d.name for d in deployments()}
    declaration = spec(tool)
    assert (f"poll-{tool}" in names) == declaration.polls
    assert (f"push-{tool}" in names) == declaration.pushes


# --- payload models ----------------------------------------------------------------------------
def _playbook_kinds() -> dict[str, set[str]]:
    """tool -> the action kinds some playbook asks of it."""
    kinds: dict[str, set[str]] = {}
    payload_kinds = {k.value for k in ActionKind}
    for path in playbook_files():
        playbook = load_playbook(path)
        lines = [a for t in playbook.triggers for a in (*t.do, *t.else_)]
        lines += [a for block in playbook.blocks.values() for a in block]
        for line in lines:
            if line.kind in payload_kinds and line.tool:
                kinds.setdefault(line.tool, set()).add(line.kind)
    return kinds


def _translated_kinds(tool: str) -> set[str]:
    """Kinds the tool's mapping writes instead of the action's own: every ``ActionKind.X``
    given as a ``kind=`` argument or as a dict's ``"kind"`` (``vendor(..., kind=...)``,
    ``model_copy(update={"kind": ...})``)."""
    source = Path(inspect.getfile(type(plugin("mappings", tool, "MAPPING")))).read_text("utf-8")
    values: list[ast.expr] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            values += [k.value for k in node.keywords if k.arg == "kind"]
        elif isinstance(node, ast.Dict):
            values += [v for k, v in zip(node.keys, node.values, strict=True)
                       if isinstance(k, ast.Constant) and k.value == "kind"]
    return {ActionKind[v.attr].value for v in values
            if isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name) and v.value.id == "ActionKind"}


@pytest.mark.parametrize("tool", TOOLS)
def test_payload_models_cover_the_kinds_the_tools_mapping_produces(tool: str) -> None:
    """What a mapping produces: the kinds the playbooks ask of the tool (kept as they are) and
    the kinds it translates them into. Each needs a payload model, else every such action
    would be refused at the boundary."""
    for kind, model in spec(tool).payloads.items():
        assert issubclass(model, VendorPayload), f"{tool}.{kind}: {model} is no VendorPayload"
    translated = _translated_kinds(tool)
    missing = {k for k in translated if payload_model(tool, k) is None}
    assert not missing, f"{tool}'s mapping writes {sorted(missing)}, which have no payload model"
    asked = _playbook_kinds().get(tool, set())
    if not translated:  # no kind changed on the way: each kind asked is a kind written
        missing = {k for k in asked if payload_model(tool, k) is None}
        assert not missing, f"the playbooks ask {tool} for {sorted(missing)}: no payload model"



@pytest.mark.parametrize(("tool", "kind", "payload", "message"), [
    ("zendesk", ActionKind.SET_STAGE, {"record_id": "12"}, "set_stage needs status, custom_fields or add_tags"),
    ("zendesk", ActionKind.ASSIGN_OWNER, {"record_id": "12"}, "assign_owner needs assignee_id or group_id"),
    ("movidesk", ActionKind.ASSIGN_OWNER, {"record_id": "12", "owner_team": ""},
     "assign_owner needs owner_id or owner_team"),
    ("slack", ActionKind.NOTIFY, {"channel": "C0123ABCD", "blocks": []}, "a message needs text or blocks"),
])
def test_a_payload_giving_none_of_its_alternatives_is_refused_naming_them(
        tool: str, kind: ActionKind, payload: dict[str, Any], message: str) -> None:
    """None, an empty text and an empty list give nothing; a vendor would refuse the write."""
    model = payload_model(tool, kind)
    assert model is not None
    with pytest.raises(ValidationError, match=message):
        model.model_validate(payload)


@pytest.mark.parametrize(("tool", "kind", "payload"), [
    ("zendesk", ActionKind.ASSIGN_OWNER, {"record_id": "12", "group_id": 0}),
    ("zendesk", ActionKind.SET_STAGE, {"record_id": "12", "add_tags": ["vip"]}),
    ("movidesk", ActionKind.ASSIGN_OWNER, {"record_id": "12", "owner_team": "Onboarding"}),
    ("slack", ActionKind.NOTIFY, {"channel": "C0123ABCD", "text": "hello"}),
])
def test_a_payload_giving_one_of_its_alternatives_is_taken(
        tool: str, kind: ActionKind, payload: dict[str, Any]) -> None:
    model = payload_model(tool, kind)
    assert model is not None
    model.model_validate(payload)

# --- deployments and prefect.yaml ---------------------------------------------------------------
def test_prefect_yaml_is_the_text_generated_from_the_declarations() -> None:
    """Regenerate with ``python -m flows.deployments > prefect.yaml``."""
    assert (REPO / "prefect.yaml").read_text(encoding="utf-8") == prefect_yaml()


def test_prefect_yaml_reads_back_as_the_deployments_described() -> None:
    text = yaml.safe_load(prefect_yaml())
    assert text["deployments"] == [d.as_yaml() for d in deployments()]
    for entry in text["deployments"]:
        for trigger in entry.get("triggers", []):  # our namespace, never every resource
            assert trigger["match"]["prefect.resource.id"].startswith("kickoff.")


def test_served_deployments_are_the_ones_described() -> None:
    served = {d.name: d for d in all_deployments()}
    described = deployments()
    assert list(served) == [d.name for d in described]
    for d in described:
        s = served[d.name]
        assert (s.parameters or {}) == d.parameters and s.concurrency_limit == d.concurrency_limit
        assert s.description == d.description and len(s.schedules) == len(d.schedules())
        assert [(t.name, t.expect, t.match.root) for t in s.triggers or []] == [
            (t.name, {t.event}, {"prefect.resource.id": t.resource}) for t in d.triggers]
    only = {d.name for d in all_deployments({"slack"})}
    assert "push-slack" in only and "push-hubspot" not in only and "process-inbox" in only


# --- the e-mail vendor: the SMTP mailbox -------------------------------------------------------
def test_the_email_vendor_serves_the_mailbox_and_empties_it_on_reset(sandbox, sandbox_server) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "kickoff@example.com", "cs@example.com", "Hej"
    message.set_content("Välkommen")
    with smtplib.SMTP(sandbox_server.smtp.host, sandbox_server.smtp.port, timeout=10) as smtp:
        smtp.send_message(message)

    [received] = sandbox.emails()
    assert received["subject"] == "Hej" and received["rcpt_tos"] == ["cs@example.com"]
    sandbox.reset()
    assert sandbox.emails() == []


def _gateway_routes(tmp_path: Path) -> set[tuple[str, str]]:
    from gateway import create_app
    from kickoff.ledger import Ledger

    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}") as ledger:
        app: Any = create_app(ledger, announce=lambda tool, ids: None, public_url="http://gw.example.com")
        return {(route.path, method) for route in app.routes for method in getattr(route, "methods", ())}
