"""The vendors' published OpenAPI documents (HubSpot, Asana) and the check of a recorded
sandbox exchange against them with ``openapi-core``: the sandbox must answer what the vendor
documents (the vendor wins).

The documents are the workplace's extracts (``shared/vendor-openapi``, found above the checkout,
or at ``KICKOFF_VENDOR_OPENAPI``) and the project's own (``vendor_openapi/`` here); each is loaded with its ``servers`` replaced by the sandbox's
relative base, as their README says. An exchange whose path no document has is reported apart
(``not_in_schema``), not as a violation.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sandbox.exchanges import Exchange

REPO = Path(__file__).resolve().parents[2]
SERVERS = {"hubspot": "/", "asana": "/api/1.0"}
MORE = Path(__file__).resolve().parent / "vendor_openapi"
"""Extracts of the same documents for operations the workplace's extracts lack (its README)."""


def folder() -> Path | None:
    """Where the extracts are: ``KICKOFF_VENDOR_OPENAPI``, else ``shared/vendor-openapi`` in a
    folder above the checkout."""
    given = os.environ.get("KICKOFF_VENDOR_OPENAPI")
    if given:
        return Path(given)
    for parent in REPO.parents:
        found = parent / "shared" / "vendor-openapi"
        if found.is_dir():
            return found
    return None


@dataclass(frozen=True)
class Document:
    vendor: str
    name: str
    openapi: Any
    paths: tuple[tuple[re.Pattern[str], str], ...]

    def template(self, path: str) -> str | None:
        for pattern, template in self.paths:
            if pattern.fullmatch(path):
                return template
        return None


def _pattern(template: str, base: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(re.escape(base.rstrip("/")) + body + "/?")  # the owners API is called with a "/"


@lru_cache(maxsize=1)
def documents() -> tuple[Document, ...]:
    """Every document, loaded once; none when the extracts or ``openapi-core`` are missing (then
    the contract test is skipped and nothing is validated)."""
    try:
        from openapi_core import Config, OpenAPI
    except ImportError:
        return ()

    config = Config(extra_media_type_deserializers={"*/*": _json})  # HubSpot's errors are "*/*"

    root = folder()
    if root is None:
        return ()
    found = []
    for vendor, base in SERVERS.items():
        for path in [*sorted((root / vendor).glob("*.json")), *sorted((MORE / vendor).glob("*.json"))]:
            spec = json.loads(path.read_text(encoding="utf-8"))
            spec["servers"] = [{"url": base}]
            templates = tuple((_pattern(t, base), t) for t in spec["paths"])
            found.append(Document(vendor, path.stem, OpenAPI.from_dict(spec, config=config), templates))
    return tuple(found)


def _json(body: bytes | str) -> Any:
    return json.loads(body)


def document_for(exchange: Exchange) -> tuple[Document, str] | None:
    for document in documents():
        if document.vendor == exchange.vendor:
            template = document.template(exchange.path)
            if template is not None:
                return document, template
    return None


def _request(exchange: Exchange) -> Any:
    from urllib.parse import parse_qs

    from openapi_core.testing import MockRequest

    args = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(exchange.query, keep_blank_values=True).items()}
    content_type = exchange.request_headers.get("content-type", "application/json").split(";")[0]
    return MockRequest("http://sandbox.example.com", exchange.method.lower(), exchange.path.rstrip("/") or "/", args=args,
                       headers=exchange.request_headers, data=exchange.request_body or None, content_type=content_type)


def _response(exchange: Exchange) -> Any:
    from openapi_core.testing import MockResponse

    content_type = exchange.response_headers.get("content-type", "application/json").split(";")[0]
    return MockResponse(exchange.response_body, status_code=exchange.status, headers=exchange.response_headers,
                        content_type=content_type)


def _details(exc: Exception) -> list[str]:
    errors = getattr(exc, "schema_errors", None) or getattr(exc.__cause__, "schema_errors", None) or []
    found = [f"{'/'.join(str(p) for p in getattr(e, 'absolute_path', []))}: {getattr(e, 'message', e)}"
             for e in errors]
    return found or [f"{type(exc).__name__}: {exc}" + (f" ({exc.__cause__})" if exc.__cause__ else "")]


@dataclass(frozen=True)
class Finding:
    """One request or response that does not fit its vendor's document."""

    where: str
    template: str
    part: str  # "request" or "response"
    details: tuple[str, ...]
    body: str = ""

    def __str__(self) -> str:
        return f"{self.where} ({self.template}) {self.part}: {'; '.join(self.details[:4])} | {self.body}"


def findings(exchanges: Iterable[Exchange], *, requests: bool = False) -> tuple[list[Finding], list[str]]:
    """(findings, what no document describes: a path or a status it does not list): each
    response (and with ``requests`` each request) validated against its vendor's document."""
    wrong: list[Finding] = []
    unknown: list[str] = []
    for exchange in exchanges:
        found = document_for(exchange)
        where = f"{exchange.vendor} {exchange.method} {exchange.path}"
        if found is None:
            unknown.append(where)
            continue
        document, template = found
        request = _request(exchange)
        if requests:
            try:
                document.openapi.validate_request(request)
            except Exception as exc:  # noqa: BLE001 - every validation failure is a finding
                body = exchange.request_body[:300].decode("utf-8", "replace")
                wrong.append(Finding(where, template, "request", tuple(_details(exc)), body))
        if exchange.status == 204 or not exchange.response_body:
            continue  # nothing to validate in an empty answer
        try:
            document.openapi.validate_response(request, _response(exchange))
        except Exception as exc:  # noqa: BLE001 - every validation failure is a finding
            if type(exc).__name__ == "ResponseNotFound":  # a status the document does not list
                unknown.append(f"{where} -> {exchange.status}")
                continue
            body = exchange.response_body[:300].decode("utf-8", "replace")
            wrong.append(Finding(where, template, f"response {exchange.status}", tuple(_details(exc)), body))
    return wrong, unknown


def violations(exchanges: Iterable[Exchange]) -> list[str]:
    """The responses that do not fit their vendor's document, in words."""
    return [str(f) for f in findings(exchanges)[0]]
