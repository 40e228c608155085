"""Salesforce: REST API v59-style (any ``vXX.X``), OAuth and SOAP login, Outbound Messages.

Serves what Kickoff and simple-salesforce use: SOQL ``query``/``queryAll`` with
``nextRecordsUrl`` paging, sObject CRUD and upsert by external id, sObject Collections
(``composite/sobjects``, 200 records a call, ``allOrNone``), Get Updated/Deleted, limits,
``Sforce-Limit-Info`` on every answer and the rolling 24-hour API allocation (403
REQUEST_LIMIT_EXCEEDED). A person's change at ``/_sandbox/salesforce/...`` (and any API
write) that matches an outbound-message rule posts the SOAP ``notifications`` envelope.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import secrets
import string
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar
from urllib.parse import parse_qs
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import jwt
from fastapi import Body, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.limits import LimitSettings
from sandbox.vendors import soql
from sandbox.vendors.base import Vendor
from sandbox.webhooks import WebhookTarget

INSTANCE_URL = "https://sandbox.my.salesforce.com"
API_VERSION = "59.0"
MAX_COLLECTION = 200
MAX_NOTIFICATIONS = 100
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = string.ascii_uppercase + "012345"


def id18(id15: str) -> str:
    """Salesforce's case-safe 18-char id: one suffix char per 5 chars, from their capitals."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if c.isupper())
        suffix += _SUFFIX[bits]
    return id15 + suffix


def make_id(prefix: str, n: int) -> str:
    """A realistic 18-char id: key prefix, a pod-like part, a base62 serial, checksum."""
    digits = ""
    for _ in range(8):
        n, r = divmod(n, 62)
        digits = _BASE62[r] + digits
    return id18(f"{prefix}5g00{digits}")


ORG_ID = make_id("00D", 4_117)
SANDBOX_USER = make_id("005", 1)

_COMMON = {"Id": "id", "OwnerId": "id", "IsDeleted": "boolean", "CreatedDate": "datetime", "CreatedById": "id",
           "LastModifiedDate": "datetime", "LastModifiedById": "id", "SystemModstamp": "datetime",
           "Kickoff_Key__c": "string"}
SCHEMA: dict[str, dict[str, str]] = {
    "Account": {"Name": "string", "Type": "string", "Industry": "string", "Website": "string", "Phone": "string",
                "BillingCity": "string", "BillingCountry": "string", "Description": "string",
                "Self_Onboarding__c": "boolean", "Onboarding_Stage__c": "string", "Org_Number__c": "string"},
    "Contact": {"FirstName": "string", "LastName": "string", "Name": "string", "Email": "string",
                "Phone": "string", "Title": "string", "AccountId": "id"},
    "Case": {"CaseNumber": "string", "Subject": "string", "Description": "string", "Status": "string",
             "Priority": "string", "Origin": "string", "Type": "string", "Reason": "string", "AccountId": "id",
             "ContactId": "id", "IsClosed": "boolean", "ClosedDate": "datetime", "Onboarding_Stage__c": "string"},
    "Task": {"Subject": "string", "Description": "string", "ActivityDate": "date", "Status": "string",
             "Priority": "string", "WhoId": "id", "WhatId": "id", "Type": "string", "TaskSubtype": "string",
             "IsClosed": "boolean", "CompletedDateTime": "datetime"},
    "Opportunity": {"Name": "string", "StageName": "string", "CloseDate": "date", "Amount": "double",
                    "Probability": "double", "AccountId": "id", "Type": "string", "Description": "string",
                    "IsClosed": "boolean", "IsWon": "boolean"},
}
USER_SCHEMA = {"Id": "id", "Name": "string", "Email": "string", "Username": "string", "IsActive": "boolean",
               "Title": "string", "Department": "string"}
ORG_SCHEMA = {"Id": "id", "Name": "string", "OrganizationType": "string", "TimeZoneSidKey": "string"}
"""The read-only objects SOQL can read besides the records: users and the org itself."""
KEY_PREFIX = {"Account": "001", "Contact": "003", "Case": "500", "Task": "00T", "Opportunity": "006", "User": "005"}
REQUIRED = {"Account": ["Name"], "Contact": ["LastName"], "Opportunity": ["Name", "StageName", "CloseDate"],
            "Task": ["Subject"], "Case": []}
READ_ONLY = {"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
             "SystemModstamp", "CaseNumber", "IsClosed", "ClosedDate", "CompletedDateTime", "IsWon"}
READ_ONLY_BY_TYPE = {"Contact": {"Name"}}
DEFAULTS = {"Case": {"Status": "New", "Priority": "Medium", "Origin": "Web"},
            "Task": {"Status": "Not Started", "Priority": "Normal", "TaskSubtype": "Task"}}
PICKLISTS = {
    "Case.Status": ["New", "Working", "Escalated", "On Hold", "Onboarding", "Closed"],
    "Case.Priority": ["High", "Medium", "Low"],
    "Task.Status": ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"],
    "Task.Priority": ["High", "Normal", "Low"],
    "Opportunity.StageName": ["Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote",
                              "Negotiation/Review", "Closed Won", "Closed Lost"],
}
CLOSED = {"Case": ("Status", {"Closed"}), "Task": ("Status", {"Completed"}),
          "Opportunity": ("StageName", {"Closed Won", "Closed Lost"})}
DEFAULT_RULES = [
    {"name": "Self-onboarding unticked", "object": "Account", "field": "Self_Onboarding__c", "equals": False,
     "fields": ["Id", "Name", "OwnerId", "Self_Onboarding__c", "Org_Number__c", "SystemModstamp"]},
    {"name": "Opportunity closed won", "object": "Opportunity", "field": "StageName", "equals": "Closed Won",
     "fields": ["Id", "Name", "StageName", "AccountId", "OwnerId", "CloseDate", "SystemModstamp"]},
    {"name": "Case status changed", "object": "Case", "field": "Status",
     "fields": ["Id", "CaseNumber", "Subject", "Status", "OwnerId", "AccountId", "SystemModstamp"]},
]
EXTERNAL_IDS = {"Kickoff_Key__c"}
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
_RETRY_AFTER_STATUSES = {429, 503}


def sf_errors(code: str, message: str, status: int, fields: list[str] | None = None,
              headers: dict[str, str] | None = None) -> JSONResponse:
    """Salesforce's error body: a JSON list of {message, errorCode[, fields]}."""
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return JSONResponse([item], status_code=status, headers=headers)


def _label(name: str) -> str:
    """A field's label when the fixture gives none: its API name in words."""
    return name.removesuffix("__c").replace("_", " ")


def rest_time(at: datetime) -> str:
    """REST answers: ``2026-01-01T00:00:00.000+0000`` (milliseconds, UTC)."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def soap_time(value: str) -> str:
    """SOAP messages carry xsd:dateTime with ``Z``."""
    return rest_time(soql.parse_datetime(value)).replace("+0000", "Z")


class SaveError(Exception):
    """A per-record failure (statusCode, message, fields) as in a SaveResult."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields or []

    def as_dict(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


class RequestError(Exception):
    """A whole-request failure: answered with ``sf_errors``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class Salesforce(Vendor):
    name = "salesforce"
    prefixes = ("/services/data/", "/services/oauth2/", "/services/Soap/")
    # Enterprise Edition's base allocation: 100,000 calls per rolling 24 hours (more per
    # licence). Salesforce has no short-window limit on REST calls, so ``requests`` and
    # ``window_seconds`` are unused. ``extra.query_page_size``: records per query page.
    default_limits: ClassVar[LimitSettings] = LimitSettings(
        requests=100_000, window_seconds=86_400, daily=100_000, extra={"query_page_size": 2000})
    default_credentials: ClassVar[dict[str, str]] = {
        "SALESFORCE_SESSION_ID": "sf-sandbox-session-token",
        "SALESFORCE_ORG_ID": ORG_ID,
        "SALESFORCE_USERNAME": "kickoff@example.com",
        "SALESFORCE_PASSWORD": "sf-sandbox-password",
        "SALESFORCE_SECURITY_TOKEN": "sfsandboxtoken",
        "SALESFORCE_CONSUMER_KEY": "sf-sandbox-consumer-key",
        "SALESFORCE_CONSUMER_SECRET": "sf-sandbox-consumer-secret",
    }

    # --- state ------------------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        self.credentials["SALESFORCE_ORG_ID"] = ORG_ID
        self.org: dict[str, Any] = {"Id": ORG_ID, "Name": "Sandbox Org", "OrganizationType": "Enterprise Edition",
                                    "TimeZoneSidKey": "Europe/Paris"}
        self.records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in SCHEMA}
        self.users: dict[str, dict[str, Any]] = {
            SANDBOX_USER: {"Id": SANDBOX_USER, "Name": "Sandbox Integration", "Email": "kickoff@example.com",
                           "Username": "kickoff@example.com", "IsActive": True}}
        self.queues: set[str] = set()
        self.custom_fields: dict[str, dict[str, str]] = {t: {} for t in SCHEMA}
        self.picklists: dict[str, list[str]] = {k: list(v) for k, v in PICKLISTS.items()}
        self.labels: dict[str, str] = {}
        self.rules: list[dict[str, Any]] = [dict(r) for r in DEFAULT_RULES]
        self.sessions: set[str] = set()
        self.locators: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._case_numbers = itertools.count(1001)
        self._notification_ids = itertools.count(1)
        self._used = 0
        self._pending: dict[int, list[dict[str, Any]]] = {}

    def seed(self, data: dict[str, Any]) -> None:
        """Sections: users, queues, fields {Type: {Name__c: type}}, picklists {"Type.Field": [...]},
        labels {"Type.Field": label},
        outbound_rules [...], records {Type: [fields, ...]} (Id and timestamps optional), org
        {Id, Name} (another org: its Outbound Messages carry that OrganizationId)."""
        if "org" in data:
            self.org.update(data["org"])
            self.credentials["SALESFORCE_ORG_ID"] = str(self.org["Id"])
        for user in data.get("users", []):
            uid = user.get("Id") or make_id("005", self.next_id())
            self.users[uid] = {"IsActive": True, **user, "Id": uid}
        self.queues.update(data.get("queues", []))
        for sobject, fields in data.get("fields", {}).items():
            self.custom_fields[self._type(sobject)].update(fields)
        self.picklists.update(data.get("picklists", {}))
        self.labels.update(data.get("labels", {}))
        if "outbound_rules" in data:
            self.rules = list(data["outbound_rules"])
        for sobject, records in data.get("records", {}).items():
            sobject = self._type(sobject)
            for fields in records:
                self._seed_record(sobject, fields)

    def _seed_record(self, sobject: str, fields: dict[str, Any]) -> None:
        now = rest_time(self.sb.clock.now())
        rid = fields.get("Id") or make_id(KEY_PREFIX[sobject], self.next_id())
        record = {**DEFAULTS.get(sobject, {}), "OwnerId": SANDBOX_USER, "CreatedDate": now, "CreatedById": SANDBOX_USER,
                  "LastModifiedDate": now, "LastModifiedById": SANDBOX_USER, "SystemModstamp": now,
                  "IsDeleted": False, **fields, "Id": rid}
        if sobject == "Case":
            record.setdefault("CaseNumber", f"{next(self._case_numbers):08d}")
        self.records[sobject][rid] = self._derive(sobject, record)

    # --- schema helpers -----------------------------------------------------------------
    def _type(self, name: str) -> str:
        for t in SCHEMA:
            if t.lower() == name.lower():
                return t
        raise RequestError("NOT_FOUND", "The requested resource does not exist", 404)

    def _fields(self, sobject: str) -> dict[str, str]:
        if sobject == "User":
            return USER_SCHEMA
        if sobject == "Organization":
            return ORG_SCHEMA
        return {**_COMMON, **SCHEMA[sobject], **self.custom_fields[sobject]}

    def _field(self, sobject: str, name: str) -> tuple[str, str] | None:
        for canonical, kind in self._fields(sobject).items():
            if canonical.lower() == name.lower():
                return canonical, kind
        return None

    def _resolver(self, sobject: str, text: str) -> Any:
        def resolve(name: str) -> tuple[str, str]:
            found = self._field(sobject, name)
            if found is None:
                pos = text.find(name)
                raise soql.SoqlError("INVALID_FIELD", soql.caret(
                    text, max(pos, 0), f"No such column '{name}' on entity '{sobject}'. If you are attempting to "
                    "use a custom field, be sure to append the '__c' after the custom field name. Please reference "
                    "your WSDL or the describe call for the appropriate names."))
            return found
        return resolve

    def _derive(self, sobject: str, record: dict[str, Any]) -> dict[str, Any]:
        """Formula-like fields Salesforce computes: Name on Contact, IsClosed/IsWon, closed dates."""
        if sobject == "Contact":
            record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
        if sobject in CLOSED:
            field, closed = CLOSED[sobject]
            was_closed = record.get("IsClosed", False)
            record["IsClosed"] = record.get(field) in closed
            if sobject == "Opportunity":
                record["IsWon"] = record.get(field) == "Closed Won"
            stamp = {"Case": "ClosedDate", "Task": "CompletedDateTime"}.get(sobject)
            if stamp and record["IsClosed"] and not was_closed:
                record[stamp] = record["SystemModstamp"]
            elif stamp and not record["IsClosed"]:
                record[stamp] = None
        return record

    def serialize(self, sobject: str, record: dict[str, Any], version: str, fields: list[str] | None = None) -> dict[str, Any]:
        """A record as REST answers it: ``attributes`` then the fields (null when empty)."""
        out: dict[str, Any] = {"attributes": {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{record['Id']}"}}
        for name in fields or list(self._fields(sobject)):
            out[name] = record.get(name)
        return out

    def _find(self, sobject: str, rid: str, *, deleted: bool = False) -> dict[str, Any] | None:
        rid15 = rid[:15]
        for key, record in self.records[sobject].items():
            if key[:15] == rid15 and (deleted or not record["IsDeleted"]):
                return record
        return None

    def _find_by(self, sobject: str, field: str, value: Any) -> list[dict[str, Any]]:
        return [r for r in self.records[sobject].values() if not r["IsDeleted"] and r.get(field) == value]

    def _type_of_id(self, rid: str) -> str | None:
        for sobject, prefix in KEY_PREFIX.items():
            if rid.startswith(prefix):
                return sobject
        return None

    # --- validation and writes ------------------------------------------------------------
    def _clean(self, sobject: str, fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """Check names, writability, picklists and references; returns canonical field names."""
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "attributes":
                continue
            found = self._field(sobject, name)
            if found is None:
                raise RequestError("INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}")
            canonical, kind = found
            if canonical in READ_ONLY or canonical in READ_ONLY_BY_TYPE.get(sobject, set()):
                if canonical == "Id" and not creating:
                    continue
                if canonical == "Id":
                    raise SaveError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                raise SaveError("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {canonical}. "
                                "Please check the security settings of this field and verify that it is read/write "
                                "for your profile or permission set.", [canonical])
            values[canonical] = self._value(sobject, canonical, kind, value)
        return values

    def _value(self, sobject: str, name: str, kind: str, value: Any) -> Any:
        if value is None or value == "":
            return None
        allowed = self.picklists.get(f"{sobject}.{name}")
        if allowed is not None and value not in allowed:
            raise SaveError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"bad value for restricted picklist field: {value}", [name])
        if kind == "id":
            return self._reference(sobject, name, str(value))
        if kind == "boolean" and not isinstance(value, bool):
            raise SaveError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}", [name])
        if kind == "date":
            try:
                return datetime.fromisoformat(str(value)).date().isoformat()
            except ValueError:
                raise SaveError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}", [name]) from None
        if kind == "double" and not isinstance(value, int | float):
            raise SaveError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}", [name])
        return value

    def _reference(self, sobject: str, name: str, value: str) -> str:
        if len(value) not in (15, 18) or not value.isalnum():
            raise SaveError("MALFORMED_ID", f"{name}: id value of incorrect type: {value}", [name])
        if name == "OwnerId":
            for uid in (*self.users, *self.queues):
                if uid[:15] == value[:15]:
                    return uid
        else:
            target = self._type_of_id(value)
            found = self._find(target, value) if target in SCHEMA else None
            if found is not None:
                return str(found["Id"])
        raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])

    def _check_required(self, sobject: str, record: dict[str, Any]) -> None:
        missing = [f for f in REQUIRED.get(sobject, []) if record.get(f) in (None, "")]
        if missing:
            raise SaveError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)

    def _check_unique(self, sobject: str, record: dict[str, Any]) -> None:
        key = record.get("Kickoff_Key__c")
        if key is None:
            return
        for other in self._find_by(sobject, "Kickoff_Key__c", key):
            if other["Id"] != record["Id"]:
                raise SaveError("DUPLICATE_VALUE", f"duplicate value found: Kickoff_Key__c duplicates value on "
                                f"record with id: {other['Id']}", ["Kickoff_Key__c"])

    def create(self, sobject: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Insert one record (raises SaveError); the outbound-message rules look at it."""
        values = self._clean(sobject, fields, creating=True)
        now = rest_time(self.sb.clock.now())
        record = {**DEFAULTS.get(sobject, {}), "OwnerId": SANDBOX_USER, **values,
                  "Id": make_id(KEY_PREFIX[sobject], self.next_id()), "IsDeleted": False, "CreatedDate": now,
                  "CreatedById": SANDBOX_USER, "LastModifiedDate": now, "LastModifiedById": SANDBOX_USER,
                  "SystemModstamp": now}
        self._check_required(sobject, record)
        self._check_unique(sobject, record)
        if sobject == "Case":
            record["CaseNumber"] = f"{next(self._case_numbers):08d}"
        self.records[sobject][record["Id"]] = self._derive(sobject, record)
        self._changed(sobject, {}, record)
        return record

    def update(self, sobject: str, rid: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change one record (raises SaveError); SystemModstamp moves even if nothing changed."""
        old = self._find(sobject, rid, deleted=True)
        if old is None:
            raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"])
        if old["IsDeleted"]:
            raise SaveError("ENTITY_IS_DELETED", "entity is deleted", [])
        values = self._clean(sobject, fields, creating=False)
        now = rest_time(self.sb.clock.now())
        record = {**old, **values, "LastModifiedDate": now, "LastModifiedById": SANDBOX_USER, "SystemModstamp": now}
        self._check_required(sobject, record)
        self._check_unique(sobject, record)
        self.records[sobject][old["Id"]] = self._derive(sobject, record)
        self._changed(sobject, old, record)
        return record

    def upsert(self, sobject: str, field: str, value: str, fields: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Upsert by external id: (record, created)."""
        matches = self._find_by(sobject, field, value)
        if len(matches) > 1:
            raise SaveError("DUPLICATE_EXTERNAL_ID", f"{field}: more than one record found for external id field: "
                            f"{[m['Id'] for m in matches]}", [field])
        body = {k: v for k, v in fields.items() if k.lower() != field.lower()}
        if matches:
            return self.update(sobject, matches[0]["Id"], body), False
        return self.create(sobject, {**body, field: value}), True

    def delete(self, sobject: str, rid: str) -> None:
        record = self._find(sobject, rid, deleted=True)
        if record is None:
            raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if record["IsDeleted"]:
            raise SaveError("ENTITY_IS_DELETED", "entity is deleted", [])
        now = rest_time(self.sb.clock.now())
        self.records[sobject][record["Id"]] = {**record, "IsDeleted": True, "SystemModstamp": now, "LastModifiedDate": now}

    def _ext_field(self, sobject: str, name: str) -> str:
        found = self._field(sobject, name)
        if found is None or found[0] not in EXTERNAL_IDS:
            raise RequestError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}", 404)
        return found[0]

    # --- outbound messages -----------------------------------------------------------------
    def _changed(self, sobject: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        for index, rule in enumerate(self.rules):
            if rule["object"] != sobject:
                continue
            field = rule["field"]
            if old.get(field) == new.get(field):
                continue
            if "equals" in rule and new.get(field) != rule["equals"]:
                continue
            self._pending.setdefault(index, []).append(new)

    def flush_outbound(self) -> int:
        """Post what the last operation queued: one envelope per rule, at most 100 notifications each."""
        sent = 0
        pending, self._pending = self._pending, {}
        if self.name not in self.sb.webhooks.targets:
            return 0  # no endpoint configured: Salesforce would not build the message either
        for index, records in pending.items():
            for start in range(0, len(records), MAX_NOTIFICATIONS):
                body = self.outbound_message(self.rules[index], index, records[start:start + MAX_NOTIFICATIONS])
                if self.emit_webhook(body, content_type="text/xml; charset=utf-8", extra_headers={"SOAPAction": '""'}):
                    sent += 1
        return sent

    def outbound_message(self, rule: dict[str, Any], index: int, records: list[dict[str, Any]]) -> bytes:
        """The SOAP ``notifications`` envelope Salesforce posts for a workflow outbound message."""
        org = self.credentials["SALESFORCE_ORG_ID"]
        action_id = make_id("04k", index + 1)
        sobject = rule["object"]
        session = (f"<SessionId>{escape(self.credentials['SALESFORCE_SESSION_ID'])}</SessionId>"
                   if rule.get("send_session_id") else '<SessionId xsi:nil="true"/>')
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            (f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'),
            "<soapenv:Body>",
            f'<notifications xmlns="{OUTBOUND_NS}">',
            f"<OrganizationId>{org}</OrganizationId>",
            f"<ActionId>{action_id}</ActionId>",
            session,
            f"<EnterpriseUrl>{INSTANCE_URL}/services/Soap/c/{API_VERSION}/{org[:15]}</EnterpriseUrl>",
            f"<PartnerUrl>{INSTANCE_URL}/services/Soap/u/{API_VERSION}/{org[:15]}</PartnerUrl>",
        ]
        kinds = self._fields(sobject)
        for record in records:
            parts.append(f"<Notification><Id>{make_id('04l', next(self._notification_ids))}</Id>")
            parts.append(f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">')
            for name in rule.get("fields", ["Id"]):
                value = record.get(name)
                if value is None:
                    continue
                if kinds.get(name) == "datetime":
                    value = soap_time(value)
                elif isinstance(value, bool):
                    value = "true" if value else "false"
                parts.append(f"<sf:{name}>{escape(str(value))}</sf:{name}>")
            parts.append("</sObject></Notification>")
        parts += ["</notifications>", "</soapenv:Body>", "</soapenv:Envelope>"]
        return "".join(parts).encode()

    def sign(self, target: WebhookTarget, method: str, url: str, body: bytes) -> dict[str, str]:
        return {}  # Outbound Messages are unsigned: the receiver checks the OrganizationId

    # --- the vendor layer's hooks --------------------------------------------------------------
    def _is_api(self, request: Request) -> bool:
        return request.url.path.startswith("/services/data/")

    def check_auth(self, request: Request) -> Response | None:
        if not self._is_api(request):
            return None  # the login endpoints check their own credentials
        token = self.bearer_token(request)
        if token and (token == self.credentials["SALESFORCE_SESSION_ID"] or token in self.sessions):
            return None
        return sf_errors("INVALID_SESSION_ID", "Session expired or invalid", 401, headers={"WWW-Authenticate": "Token"})

    def check_limits(self, request: Request) -> Response | None:
        daily = self.limits.daily
        if not self._is_api(request) or not daily:
            return None
        ok, remaining, _ = self.window_hit("daily", daily, 86_400)
        self._used = daily - remaining if ok else daily
        if ok:
            return None
        return sf_errors("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", 403)

    def response_headers(self, request: Request) -> dict[str, str]:
        if not self._is_api(request):
            return {}
        daily = self.limits.daily or self.default_limits.daily or 0
        if not (self.limits.enabled and self.limits.daily):
            self._used = self.sb.counters.add("salesforce:api-usage")
        return {"Sforce-Limit-Info": f"api-usage={self._used}/{daily}"}

    def error_response(self, status: int, message: str) -> Response:
        code = {400: "BAD_REQUEST", 401: "INVALID_SESSION_ID", 403: "REQUEST_LIMIT_EXCEEDED", 404: "NOT_FOUND",
                429: "REQUEST_LIMIT_EXCEEDED", 503: "SERVER_UNAVAILABLE"}.get(status, "UNKNOWN_EXCEPTION")
        headers = {"Retry-After": "1"} if status in _RETRY_AFTER_STATUSES else None
        return sf_errors(code, message, status, headers=headers)

    # --- API routes ------------------------------------------------------------------------------
    def routes(self) -> None:
        self._login_routes()
        self._query_routes()
        self._sobject_routes()
        self._collection_routes()

        @self.router.get("/services/data/{version}/limits/")
        async def limits(version: str) -> Response:
            daily = self.limits.daily or 0
            return JSONResponse({"DailyApiRequests": {"Max": daily, "Remaining": max(daily - self._used, 0)}})

        @self.router.api_route("/services/data/{rest:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
        async def not_found(rest: str) -> Response:
            return sf_errors("NOT_FOUND", "The requested resource does not exist", 404)

    def _guard(self, version: str) -> None:
        if not (version.startswith("v") and version[1:].replace(".", "", 1).isdigit()):
            raise RequestError("NOT_FOUND", "The requested resource does not exist", 404)

    def _sobject(self, version: str, sobject: str) -> str:
        """An sObject route's version checked and its object type as the schema spells it."""
        self._guard(version)
        return self._type(sobject)

    def _external_id(self, version: str, sobject: str, field: str) -> tuple[str, str]:
        """``_sobject``, and the external id field the route names."""
        sobject = self._sobject(version, sobject)
        return sobject, self._ext_field(sobject, field)

    async def _json(self, request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"null")
        except json.JSONDecodeError as exc:
            raise RequestError("JSON_PARSER_ERROR", f"Unexpected character at [line:{exc.lineno}, column:{exc.colno}]") from None

    def _answer(self, fn: Any) -> Any:
        """Run a handler body, turning RequestError/SaveError into Salesforce's answers."""
        async def run(*args: Any, **kwargs: Any) -> Response:
            try:
                return await fn(*args, **kwargs)
            except RequestError as exc:
                return sf_errors(exc.code, exc.message, exc.status)
            except SaveError as exc:
                return sf_errors(exc.code, exc.message, 400, fields=exc.fields)
            except soql.SoqlError as exc:
                return sf_errors(exc.code, exc.message, 400)
            finally:
                self.flush_outbound()
        return functools.wraps(fn)(run)

    # ---- login ----
    def _login_routes(self) -> None:
        @self.router.post("/services/oauth2/token")
        async def token(request: Request) -> Response:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            grant = form.get("grant_type")
            creds = self.credentials
            if grant == "password":
                if form.get("client_id") != creds["SALESFORCE_CONSUMER_KEY"] or form.get("client_secret") != creds["SALESFORCE_CONSUMER_SECRET"]:
                    return _oauth_error("invalid_client_id", "client identifier invalid")
                good = {creds["SALESFORCE_PASSWORD"], creds["SALESFORCE_PASSWORD"] + creds["SALESFORCE_SECURITY_TOKEN"]}
                if form.get("username") != creds["SALESFORCE_USERNAME"] or form.get("password") not in good:
                    return _oauth_error("invalid_grant", "authentication failure")
            elif grant == "client_credentials":
                key, secret = _basic(request) or (form.get("client_id"), form.get("client_secret"))
                if key != creds["SALESFORCE_CONSUMER_KEY"] or secret != creds["SALESFORCE_CONSUMER_SECRET"]:
                    return _oauth_error("invalid_client", "invalid client credentials")
            elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                try:
                    claims = jwt.decode(form.get("assertion", ""), options={"verify_signature": False, "verify_exp": True})
                except jwt.PyJWTError:
                    return _oauth_error("invalid_grant", "invalid assertion")
                if claims.get("iss") != creds["SALESFORCE_CONSUMER_KEY"]:
                    return _oauth_error("invalid_client_id", "client identifier invalid")
                if claims.get("sub") != creds["SALESFORCE_USERNAME"]:
                    return _oauth_error("invalid_grant", "user hasn't approved this consumer")
            else:
                return _oauth_error("unsupported_grant_type", "grant type not supported")
            access = self._new_session()
            return JSONResponse({"access_token": access, "instance_url": INSTANCE_URL, "token_type": "Bearer",
                                 "id": f"https://login.salesforce.com/id/{creds['SALESFORCE_ORG_ID']}/{SANDBOX_USER}",
                                 "issued_at": str(self.sb.clock.now_ms()),
                                 "signature": base64.b64encode(secrets.token_bytes(32)).decode()})

        @self.router.post("/services/Soap/u/{version}")
        async def soap_login(version: str, request: Request) -> Response:
            try:
                root = ElementTree.fromstring(await request.body())
            except ElementTree.ParseError:
                return _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
            values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
            creds = self.credentials
            good = creds["SALESFORCE_PASSWORD"] + creds["SALESFORCE_SECURITY_TOKEN"]
            if values.get("username") != creds["SALESFORCE_USERNAME"] or values.get("password") != good:
                return _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
            org = creds["SALESFORCE_ORG_ID"]
            body = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}" '
                    'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
                    f"<serverUrl>{INSTANCE_URL}/services/Soap/u/{version}/{org[:15]}</serverUrl>"
                    f"<sessionId>{self._new_session()}</sessionId><userId>{SANDBOX_USER}</userId>"
                    "</result></loginResponse></soapenv:Body></soapenv:Envelope>")
            return Response(body, media_type="text/xml")

    def _new_session(self) -> str:
        token = f"{self.credentials['SALESFORCE_ORG_ID'][:15]}!{secrets.token_urlsafe(24)}"
        self.sessions.add(token)
        return token

    # ---- SOQL ----
    def _query_routes(self) -> None:
        async def first_page(version: str, q: str | None, all_rows: bool) -> Response:
            self._guard(version)
            if not q:
                raise RequestError("MALFORMED_QUERY", "A query string has to be specified")
            return self._run_query(version, q, all_rows=all_rows)

        async def next_page(version: str, locator: str, all_rows: bool) -> Response:
            self._guard(version)
            key, _, offset = locator.rpartition("-")
            if key not in self.locators or not offset.isdigit():
                raise RequestError("INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._page(version, key, int(offset), all_rows=all_rows)

        @self.router.get("/services/data/{version}/query/")
        @self._answer
        async def query(version: str, q: str | None = None) -> Response:
            return await first_page(version, q, False)

        @self.router.get("/services/data/{version}/queryAll/")
        @self._answer
        async def query_all(version: str, q: str | None = None) -> Response:
            return await first_page(version, q, True)

        @self.router.get("/services/data/{version}/query/{locator}")
        @self._answer
        async def query_more(version: str, locator: str) -> Response:
            return await next_page(version, locator, False)

        @self.router.get("/services/data/{version}/queryAll/{locator}")
        @self._answer
        async def query_all_more(version: str, locator: str) -> Response:
            return await next_page(version, locator, True)

    def _run_query(self, version: str, text: str, *, all_rows: bool) -> Response:
        query = soql.parse(text)
        try:
            sobject = {"user": "User", "organization": "Organization"}.get(query.sobject.lower()) \
                or self._type(query.sobject)
        except RequestError:
            raise soql.SoqlError("INVALID_TYPE", soql.caret(
                text, text.find(query.sobject), f"sObject type '{query.sobject}' is not supported. If you are "
                "attempting to use a custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.")) from None
        resolve = self._resolver(sobject, text)
        fields = [resolve(f)[0] for f in query.fields]
        match = soql.compile_where(query.where, resolve)
        if sobject in ("User", "Organization"):
            pool = list(self.users.values()) if sobject == "User" else [self.org]
        else:
            pool = [r for r in self.records[sobject].values() if all_rows or not r["IsDeleted"]]
        rows = soql.sort_records([r for r in pool if match(r)], query.order, resolve)
        rows = rows[query.offset:]
        if query.limit is not None:
            rows = rows[: query.limit]
        key = make_id("01g", self.next_id())
        self.locators[key] = [self.serialize(sobject, r, version, fields) for r in rows]
        while len(self.locators) > 50:
            self.locators.popitem(last=False)
        return self._page(version, key, 0, all_rows=all_rows)

    def _page(self, version: str, key: str, offset: int, *, all_rows: bool) -> Response:
        rows = self.locators[key]
        size = int(self.limits.extra.get("query_page_size", 2000))
        page = rows[offset: offset + size]
        done = offset + size >= len(rows)
        body: dict[str, Any] = {"totalSize": len(rows), "done": done}
        if not done:
            endpoint = "queryAll" if all_rows else "query"
            body["nextRecordsUrl"] = f"/services/data/{version}/{endpoint}/{key}-{offset + size}"
        body["records"] = page
        if done:
            self.locators.pop(key, None)
        return JSONResponse(body)

    # ---- sObject rows ----
    def _sobject_routes(self) -> None:
        r = self.router
        base = "/services/data/{version}/sobjects/{sobject}"

        @r.get(base + "/")
        @self._answer
        async def basic_info(version: str, sobject: str) -> Response:
            sobject = self._sobject(version, sobject)
            return JSONResponse({"objectDescribe": {"name": sobject, "keyPrefix": KEY_PREFIX[sobject],
                                                    "createable": True, "updateable": True}, "recentItems": []})

        @r.post(base + "/")
        @self._answer
        async def create(version: str, sobject: str, request: Request) -> Response:
            sobject = self._sobject(version, sobject)
            body = await self._json(request)
            if not isinstance(body, dict):
                raise RequestError("JSON_PARSER_ERROR", "Expected a JSON object")
            record = self.create(sobject, body)
            return JSONResponse({"id": record["Id"], "success": True, "errors": []}, status_code=201)

        @r.get(base + "/{record_id}/")
        @self._answer
        async def special(version: str, sobject: str, record_id: str, request: Request) -> Response:
            sobject = self._sobject(version, sobject)
            if record_id == "describe":
                return JSONResponse(self._describe(sobject))
            if record_id in ("updated", "deleted"):
                return self._changes_between(sobject, record_id, request)
            raise RequestError("NOT_FOUND", "The requested resource does not exist", 404)

        @r.get(base + "/{record_id}")
        @self._answer
        async def get(version: str, sobject: str, record_id: str, fields: str | None = None) -> Response:
            sobject = self._sobject(version, sobject)
            if record_id == "describe":
                return JSONResponse(self._describe(sobject))
            record = self._find(sobject, record_id, deleted=True)
            if record is None:
                raise RequestError("NOT_FOUND", "The requested resource does not exist", 404)
            if record["IsDeleted"]:
                raise RequestError("ENTITY_IS_DELETED", "entity is deleted", 404)
            names = [self._field_or_fail(sobject, f) for f in fields.split(",")] if fields else None
            return JSONResponse(self.serialize(sobject, record, version, names))

        @r.patch(base + "/{record_id}")
        @self._answer
        async def patch(version: str, sobject: str, record_id: str, request: Request) -> Response:
            sobject = self._sobject(version, sobject)
            body = await self._json(request)
            if self._find(sobject, record_id, deleted=True) is None:
                raise RequestError("NOT_FOUND", "The requested resource does not exist", 404)
            self.update(sobject, record_id, body or {})
            return Response(status_code=204)

        @r.delete(base + "/{record_id}")
        @self._answer
        async def delete(version: str, sobject: str, record_id: str) -> Response:
            sobject = self._sobject(version, sobject)
            if self._find(sobject, record_id, deleted=True) is None:
                raise RequestError("NOT_FOUND", "The requested resource does not exist", 404)
            try:
                self.delete(sobject, record_id)
            except SaveError as exc:
                raise RequestError(exc.code, exc.message, 404) from None
            return Response(status_code=204)

        @r.get(base + "/{field}/{value}")
        @self._answer
        async def get_by_external_id(version: str, sobject: str, field: str, value: str) -> Response:
            sobject, field = self._external_id(version, sobject, field)
            matches = self._find_by(sobject, field, value)
            if not matches:
                raise RequestError("NOT_FOUND", "The requested resource does not exist", 404)
            if len(matches) > 1:
                return JSONResponse([f"/services/data/{version}/sobjects/{sobject}/{m['Id']}" for m in matches], status_code=300)
            return JSONResponse(self.serialize(sobject, matches[0], version))

        @r.patch(base + "/{field}/{value}")
        @self._answer
        async def upsert(version: str, sobject: str, field: str, value: str, request: Request) -> Response:
            sobject, field = self._external_id(version, sobject, field)
            body = await self._json(request)
            record, created = self.upsert(sobject, field, value, body or {})
            return JSONResponse({"id": record["Id"], "success": True, "errors": [], "created": created},
                                status_code=201 if created else 200)

    def _field_or_fail(self, sobject: str, name: str) -> str:
        found = self._field(sobject, name.strip())
        if found is None:
            raise RequestError("INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'")
        return found[0]

    def _describe(self, sobject: str) -> dict[str, Any]:
        fields = []
        for name, kind in self._fields(sobject).items():
            item: dict[str, Any] = {"name": name, "label": self.labels.get(f"{sobject}.{name}", _label(name)),
                                    "type": {"id": "reference", "string": "string"}.get(kind, kind),
                                    "externalId": name == "Kickoff_Key__c", "unique": name == "Kickoff_Key__c",
                                    "createable": name not in READ_ONLY, "updateable": name not in READ_ONLY,
                                    "nillable": name not in REQUIRED.get(sobject, [])}
            picklist = self.picklists.get(f"{sobject}.{name}")
            if picklist is not None:
                item.update(type="picklist", restrictedPicklist=True,
                            picklistValues=[{"value": v, "label": v, "active": True} for v in picklist])
            fields.append(item)
        return {"name": sobject, "label": sobject, "keyPrefix": KEY_PREFIX[sobject], "createable": True,
                "updateable": True, "queryable": True, "fields": fields}

    def _changes_between(self, sobject: str, kind: str, request: Request) -> Response:
        try:
            start = soql.parse_datetime(request.query_params["start"])
            end = soql.parse_datetime(request.query_params["end"])
        except (KeyError, ValueError):
            raise RequestError("INVALID_REPLICATION_DATE", "start and end are required dateTimes") from None
        now = self.sb.clock.now()
        oldest = now - timedelta(days=30 if kind == "updated" else 15)
        if start < oldest:
            raise RequestError("INVALID_REPLICATION_DATE", "startDate before org replication enabled date")
        inside = [r for r in self.records[sobject].values()
                  if start <= soql.parse_datetime(r["SystemModstamp"]) <= end and r["IsDeleted"] == (kind == "deleted")]
        covered = rest_time(min(end, now).replace(second=0, microsecond=0))
        if kind == "updated":
            return JSONResponse({"ids": [r["Id"] for r in inside], "latestDateCovered": covered})
        return JSONResponse({"deletedRecords": [{"id": r["Id"], "deletedDate": r["SystemModstamp"]} for r in inside],
                             "earliestDateAvailable": rest_time(oldest), "latestDateCovered": covered})

    # ---- sObject Collections ----
    def _collection_routes(self) -> None:
        r = self.router
        base = "/services/data/{version}/composite/sobjects"

        @r.post(base)
        @self._answer
        async def create_many(version: str, request: Request) -> Response:
            self._guard(version)
            all_or_none, records = self._collection_body(await self._json(request))
            return self._save_all(records, all_or_none, lambda t, rec: self._result(self.create(t, rec)))

        @r.patch(base)
        @self._answer
        async def update_many(version: str, request: Request) -> Response:
            self._guard(version)
            all_or_none, records = self._collection_body(await self._json(request))

            def one(sobject: str, rec: dict[str, Any]) -> dict[str, Any]:
                rid = rec.get("Id") or rec.get("id")
                if not rid:
                    raise SaveError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
                if len(str(rid)) not in (15, 18) or self._type_of_id(str(rid)) != sobject:
                    raise SaveError("MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {rid}", ["Id"])
                body = {k: v for k, v in rec.items() if k not in ("Id", "id")}
                return self._result(self.update(sobject, str(rid), body))

            return self._save_all(records, all_or_none, one)

        @r.patch(base + "/{sobject}/{field}")
        @self._answer
        async def upsert_many(version: str, sobject: str, field: str, request: Request) -> Response:
            sobject, field = self._external_id(version, sobject, field)
            all_or_none, records = self._collection_body(await self._json(request))

            def one(kind: str, rec: dict[str, Any]) -> dict[str, Any]:
                if kind != sobject:
                    raise SaveError("INVALID_TYPE", f"Record type {kind} does not match {sobject}", [])
                value = next((v for k, v in rec.items() if k.lower() == field.lower()), None)
                if value in (None, ""):
                    raise SaveError("MISSING_ARGUMENT", f"{field} not specified", [field])
                record, created = self.upsert(sobject, field, str(value), rec)
                return {**self._result(record), "created": created}

            return self._save_all(records, all_or_none, one)

        @r.delete(base)
        @self._answer
        async def delete_many(version: str, ids: str = "", allOrNone: str = "false") -> Response:
            self._guard(version)
            id_list = [i for i in ids.split(",") if i]
            if len(id_list) > MAX_COLLECTION:
                raise RequestError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
            results = []
            for rid in id_list:
                sobject = self._type_of_id(rid)
                try:
                    if sobject not in SCHEMA:
                        raise SaveError("MALFORMED_ID", f"malformed id {rid}", [])
                    self.delete(sobject, rid)
                    results.append({"id": rid, "success": True, "errors": []})
                except SaveError as exc:
                    results.append({"success": False, "errors": [exc.as_dict()]})
            return JSONResponse(results)

        @r.get(base + "/{sobject}")
        @self._answer
        async def retrieve_many(version: str, sobject: str, ids: str = "", fields: str = "") -> Response:
            sobject = self._sobject(version, sobject)
            names = [self._field_or_fail(sobject, f) for f in fields.split(",") if f]
            out = []
            for rid in (i for i in ids.split(",") if i):
                record = self._find(sobject, rid)
                out.append(self.serialize(sobject, record, version, names) if record else None)
            return JSONResponse(out)

    def _collection_body(self, body: Any) -> tuple[bool, list[tuple[str, dict[str, Any]]]]:
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise RequestError("JSON_PARSER_ERROR", "Cannot deserialize instance of SObjectCollection: records expected")
        if len(body["records"]) > MAX_COLLECTION:
            raise RequestError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
        records = []
        for rec in body["records"]:
            kind = (rec.get("attributes") or {}).get("type") if isinstance(rec, dict) else None
            if not kind:
                raise RequestError("INVALID_TYPE", "Must send a concrete entity type.")
            try:
                sobject = self._type(kind)
            except RequestError:
                raise RequestError("INVALID_TYPE", f"sObject type '{kind}' is not supported.") from None
            records.append((sobject, {k: v for k, v in rec.items() if k != "attributes"}))
        return bool(body.get("allOrNone", False)), records

    @staticmethod
    def _result(record: dict[str, Any]) -> dict[str, Any]:
        return {"id": record["Id"], "success": True, "errors": []}

    def _save_all(self, records: list[tuple[str, dict[str, Any]]], all_or_none: bool, one: Any) -> Response:
        """Per-record SaveResults in request order; with allOrNone, any failure rolls all back."""
        before = {t: dict(rows) for t, rows in self.records.items()}
        results: list[dict[str, Any]] = []
        for sobject, rec in records:
            given = rec.get("Id") or rec.get("id")
            try:
                results.append(one(sobject, rec))
            except SaveError as exc:
                results.append({"id": given, "success": False, "errors": [exc.as_dict()]})
            except RequestError as exc:
                error = {"statusCode": exc.code, "message": exc.message, "fields": []}
                results.append({"id": given, "success": False, "errors": [error]})
        if all_or_none and not all(r["success"] for r in results):
            self.records = before
            self._pending = {}
            rolled = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "fields": [],
                      "message": "Record rolled back because not all records were valid and the request was using AllOrNone header"}
            results = [r if not r["success"] else {"id": (rec.get("Id") or rec.get("id")), "success": False, "errors": [rolled]}
                       for r, (_, rec) in zip(results, records, strict=True)]
        return JSONResponse(results)

    # --- admin: a person in Salesforce -------------------------------------------------------------
    def admin_routes(self) -> None:
        a = self.admin

        def admin_call(fn: Any) -> Any:
            try:
                return fn()
            except SaveError as exc:
                raise HTTPException(400, [exc.as_dict()]) from None
            except RequestError as exc:
                raise HTTPException(exc.status, [{"statusCode": exc.code, "message": exc.message}]) from None
            finally:
                self.flush_outbound()

        @a.get("/records/{sobject}")
        async def list_records(sobject: str, include_deleted: bool = False) -> list[dict[str, Any]]:
            t = admin_call(lambda: self._type(sobject))
            return [self.serialize(t, r, f"v{API_VERSION}") for r in self.records[t].values()
                    if include_deleted or not r["IsDeleted"]]

        @a.get("/records/{sobject}/{record_id}")
        async def get_record(sobject: str, record_id: str) -> dict[str, Any]:
            t = admin_call(lambda: self._type(sobject))
            record = self._find(t, record_id, deleted=True)
            if record is None:
                raise HTTPException(404, f"no {t} {record_id}")
            return self.serialize(t, record, f"v{API_VERSION}")

        @a.post("/records/{sobject}")
        async def person_creates(sobject: str, fields: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
            """A person creates a record; matching outbound-message rules fire."""
            t = admin_call(lambda: self._type(sobject))
            record = admin_call(lambda: self.create(t, fields))
            return self.serialize(t, record, f"v{API_VERSION}")

        @a.patch("/records/{sobject}/{record_id}")
        async def person_changes(sobject: str, record_id: str, fields: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
            """A person edits a record (e.g. unticks Self_Onboarding__c); rules fire."""
            t = admin_call(lambda: self._type(sobject))
            record = admin_call(lambda: self.update(t, record_id, fields))
            return self.serialize(t, record, f"v{API_VERSION}")

        @a.delete("/records/{sobject}/{record_id}")
        async def person_deletes(sobject: str, record_id: str) -> dict[str, str]:
            t = admin_call(lambda: self._type(sobject))
            admin_call(lambda: self.delete(t, record_id))
            return {"status": "deleted"}

        @a.post("/changes")
        async def mass_update(changes: Annotated[list[dict[str, Any]], Body(embed=True)]) -> dict[str, Any]:
            """Many edits at once (a list view mass edit or data load): one envelope per rule,
            at most 100 notifications each. Items: {"sobject", "id", "fields"}."""
            def run() -> list[str]:
                return [self.update(self._type(c["sobject"]), c["id"], c.get("fields", {}))["Id"] for c in changes]
            return {"updated": admin_call(run)}

        @a.get("/outbound-rules")
        async def outbound_rules() -> list[dict[str, Any]]:
            return self.rules


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _basic(request: Request) -> tuple[str, str] | None:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
    return key, secret


def _soap_fault(code: str, message: str) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_NS}" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
            f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
            f"<detail><sf:LoginFault><sf:exceptionCode>{code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault></detail>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>")
    return Response(body, status_code=500, media_type="text/xml")


VENDOR = Salesforce
