"""HTTP plumbing shared by connectors: sessions pointed at the sandbox, vendor errors.

simple-salesforce and zenpy build ``https://<vendor host>/...`` URLs themselves. When a
tool's ``base_url`` is set (the local sandbox), ``SandboxRedirectAdapter`` sends those
requests to it over plain HTTP on loopback, keeping path and query: the client stays
unmodified and the traffic stays real.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from kickoff.contracts.errors import UnknownOutcome, VendorError, classify

DEFAULT_TIMEOUT = (5.0, 30.0)
Observer = Callable[[Mapping[str, str]], None]  # takes every answer's headers (``Connector.observe``)


class SandboxRedirectAdapter(HTTPAdapter):
    """Rewrites every URL it sends to ``base_url``'s scheme and host, keeping path and query.

    The request and response are handed back with the URL the client asked for: some
    clients (zenpy) only deserialize answers whose URL names the vendor's host."""

    def __init__(self, base_url: str, **kwargs) -> None:
        super().__init__(max_retries=0, **kwargs)
        target = urlsplit(base_url)
        self._scheme, self._netloc = target.scheme, target.netloc

    def send(self, request: requests.PreparedRequest, **kwargs):  # type: ignore[override]
        original = request.url or ""
        parts = urlsplit(original)
        request.url = urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))
        response = super().send(request, **kwargs)
        request.url = response.url = original
        return response


def make_session(base_url: str | None = None, observe: Observer | None = None) -> requests.Session:
    """A session with no hidden retries; with ``base_url``, every URL goes there; with
    ``observe``, every answer's headers go to it (the vendor's rate-limit counters)."""
    session = requests.Session()
    adapter: HTTPAdapter = SandboxRedirectAdapter(base_url) if base_url else HTTPAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if observe is not None:
        observe_session(session, observe)
    return session


def observe_session(session: requests.Session, observe: Observer) -> None:
    """Hand every answer's headers to ``observe`` (requests-based clients: simple-salesforce,
    zenpy, Movidesk, Slack)."""
    session.hooks["response"].append(lambda response, *args, **kwargs: observe(response.headers))


def observe_pool(pool_manager: Any, observe: Observer) -> None:
    """Hand every answer's headers to ``observe`` for urllib3-based clients (the generated
    HubSpot and Asana clients send through ``rest_client.pool_manager.request``)."""
    request = pool_manager.request

    def observed(*args: Any, **kwargs: Any) -> Any:
        response = request(*args, **kwargs)
        observe(response.headers)
        return response

    pool_manager.request = observed


def transport_error(exc: requests.RequestException, *, write: bool) -> VendorError:
    """A failure below HTTP, classified once for every requests-based client: nothing sent
    (connect timeout) or a read is simply retryable; a write that may have landed is an
    UnknownOutcome, so the retry looks its key up first."""
    if isinstance(exc, requests.ConnectTimeout):
        return classify(503, reason=f"connect timeout: {type(exc).__name__}")
    if isinstance(exc, requests.ConnectionError | requests.Timeout) and write:
        return UnknownOutcome(f"no answer after sending: {type(exc).__name__}")
    return classify(503, reason=f"connection failed: {type(exc).__name__}")


def send(session: requests.Session, method: str, url: str, *, sent_body: bool = True, **kwargs) -> requests.Response:
    """One request; transport failures become VendorError (UnknownOutcome when a body may have landed)."""
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    try:
        return session.request(method, url, **kwargs)
    except requests.RequestException as exc:
        raise transport_error(exc, write=method.upper() != "GET" and sent_body) from exc


def raise_for_vendor(response: requests.Response, reason: str | None = None) -> requests.Response:
    """Return the response if 2xx, else raise the classified VendorError with the vendor's words."""
    if response.ok:
        return response
    text = reason or (response.text[:500] if response.text else response.reason)
    raise classify(response.status_code, response.headers, text)


__all__ = ["Observer", "SandboxRedirectAdapter", "VendorError", "make_session", "observe_pool", "observe_session", "raise_for_vendor", "send", "transport_error"]
