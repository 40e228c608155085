"""The base every connector builds on (the contract is ``kickoff.contracts.connector``).

Read the changes since a cursor and return deliveries plus the next cursor; verify a
webhook and parse it into deliveries (one per vendor event, with a dedup key); apply a list
of vendor actions and return one result per action. What differs between tools (paths, batch
sizes, cursor fields, signatures) lives in each tool's module; retries, the rate limiter,
credentials and result bookkeeping live here, once.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any, ClassVar, TypeVar

from connectors.credentials import resolve_secret
from connectors.ratelimit import RateLimiter, WindowLimiter, configured_limits, reported
from kickoff.contracts.account import Account
from kickoff.contracts.connector import ReadResult
from kickoff.contracts.errors import ErrorKind, VendorError
from kickoff.contracts.subscriptions import HookChange, HookPlan, Wanted, by_hand
from kickoff.contracts.vendor import VendorAction
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.model import ActionResult, Delivery, ResultStatus
from kickoff.retry import RetryPolicy
from kickoff.settings import ToolConfig
from kickoff.tools import companion

T = TypeVar("T")

# Set while ``apply_again`` runs: every write with a lookup asks the tool first. A context
# variable, not an attribute, so one connector object can serve several threads at once.
_MAYBE_APPLIED: ContextVar[bool] = ContextVar("kickoff_maybe_applied", default=False)
log = logging.getLogger("kickoff.connectors")


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items: the vendor's batch size."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def result_for(action: VendorAction, error: VendorError) -> ActionResult:
    """An action's failed result from a classified vendor error."""
    status = {
        ErrorKind.RETRYABLE: ResultStatus.RETRYABLE,
        ErrorKind.PERMANENT: ResultStatus.PERMANENT,
        ErrorKind.AUTH: ResultStatus.AUTH,
    }[error.kind]
    return ActionResult(idempotency_key=action.idempotency_key, status=status, reason=error.reason,
                        retry_after=error.retry_after)


def done(action: VendorAction, external_id: str | None = None) -> ActionResult:
    return ActionResult(idempotency_key=action.idempotency_key, status=ResultStatus.DONE, external_id=external_id)


DAILY_RECHECK = timedelta(hours=1)
"""How soon a rolling daily allowance (no reset moment of its own) is looked at again."""


class Connector(ABC):
    """Base of every connector. Subclasses set ``tool`` and implement the four operations.

    ``reads``: what the tool's mapping needs read (object -> fields, or ids such as Asana's
    projects), from ``Mapping.reads``; the factory (``connectors.build_connector``) passes it.
    """

    tool: ClassVar[str]

    def __init__(self, tool_config: ToolConfig, *, limiter: RateLimiter | None = None,
                 retry: RetryPolicy | None = None, credential_key: str = "default",
                 reads: Mapping[str, Sequence[str]] | None = None) -> None:
        self.config = tool_config
        self.limiter = limiter or WindowLimiter(configured_limits({self.tool: tool_config}))
        self.retry = retry or RetryPolicy()
        self.credential_key = credential_key
        self.reads: dict[str, list[str]] = {k: list(v) for k, v in (reads or {}).items()}

    @property
    def base_url(self) -> str | None:
        return self.config.base_url

    @property
    def batch_size(self) -> int:
        return self.config.batch_size

    @property
    def round_size(self) -> int:
        """How many rows one push round hands to ``apply``: ten batches."""
        return max(self.batch_size * 10, 10)

    def secret(self, name: str) -> str:
        """A credential by its name in tools.yaml, resolved now; never logged."""
        try:
            ref = self.config.credentials[name]
        except KeyError:
            raise VendorError(ErrorKind.AUTH, f"{self.tool}: no credential {name!r} configured") from None
        try:
            return resolve_secret(ref)
        except KeyError as exc:
            raise VendorError(ErrorKind.AUTH, f"{self.tool}: credential {name!r} unavailable ({exc.args[0]})") from None

    def call(self, fn: Callable[[], T], *, lookup: Callable[[], T | None] | None = None, slots: int = 1) -> T:
        """One vendor call under the shared rate limiter and the one retry policy."""

        def limited() -> T:
            self.limiter.acquire(self.tool, self.credential_key, slots)
            return fn()

        return self.retry.call(limited, lookup=lookup, look_up_first=_MAYBE_APPLIED.get())

    def observe(self, headers: Mapping[str, str]) -> None:
        """An answer's rate-limit headers, handed to the shared limiter to correct its budget
        (``connectors.http`` calls this for every answer of every client)."""
        observe = getattr(self.limiter, "observe", None)
        if observe is not None:
            observe(self.tool, self.credential_key, reported(headers))

    def daily_resets_at(self, now: datetime) -> datetime:
        """When a daily allowance reported at ``now`` is worth asking for again. A rolling one
        (Salesforce's last 24 hours) frees up as calls age out: in an hour (``DAILY_RECHECK``).
        A tool whose day resets at a time of its own says when."""
        return now + DAILY_RECHECK

    def apply_each(self, actions: Sequence[VendorAction],
                   write: Callable[[VendorAction], ActionResult]) -> list[ActionResult]:
        """For tools without batches: one write per action, failures kept per action."""
        results = []
        for action in actions:
            try:
                results.append(write(action))
            except VendorError as error:
                results.append(result_for(action, error))
        return results

    # --- the four operations ----------------------------------------------------------
    @abstractmethod
    def read_changes(self, cursor: str | None, *, now: datetime, limit: int | None = None) -> ReadResult:
        """Deliveries (kind "poll") for records changed since ``cursor``, and the next cursor."""

    @abstractmethod
    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        """Raise WebhookRejected(401, reason) unless the request is authentic and fresh."""

    @abstractmethod
    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        """One delivery per vendor event, received at ``now``; WebhookRejected(400) for a bad body."""

    @abstractmethod
    def apply(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        """Carry out actions in the fewest calls; one result per action, in order."""

    def apply_again(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        """Actions an earlier attempt may have carried out already (its worker died before
        recording the result, or the outcome stayed unknown): ``apply``, with every write
        that has a ``lookup`` treated as after an unknown outcome, so the tool is asked first."""
        token = _MAYBE_APPLIED.set(True)
        try:
            return self.apply(actions, now)
        finally:
            _MAYBE_APPLIED.reset(token)

    def read_records(self, object_kind: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The current state of records by id (what reconcile compares with the canonical
        state). Tools that cannot read records in bulk say so; reconcile then skips them."""
        raise NotImplementedError(f"{self.tool}: reading records for reconcile is not supported")

    def enrich(self, delivery: Delivery, now: datetime) -> Delivery:
        """A webhook that is only a notice (no associations, no custom fields, just an id)
        made whole by reading the record; the process flow calls this before mapping.
        Default: the delivery already says everything."""
        return delivery

    def read_running(self, query: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
        """The records ``query`` (a mapping's ``running_query``) names: the onboardings already
        under way (``kickoff adopt``). Default: this tool's are not read."""
        raise NotImplementedError(f"{self.tool}: reading running records is not supported")

    # --- registering Kickoff's webhooks in the tool (``kickoff webhooks``) --------------
    def plan_webhooks(self, url: str, wanted: Sequence[Wanted], now: datetime, *,
                      kept: Collection[str] = ()) -> HookPlan:
        """What registering ``wanted`` changes in the tool. Default, for a tool with no API
        for its webhooks: each is done by a person, following ``webhook_steps``."""
        return by_hand(self.tool, url, list(wanted), self.webhook_steps(url, wanted) if wanted else [])

    def webhook_steps(self, url: str, wanted: Sequence[Wanted]) -> list[str]:
        """A person's steps to point the tool at ``url`` (tools with no API for it)."""
        return [f"Point {self.tool}'s webhooks at {url}."]

    def apply_webhooks(self, plan: HookPlan, now: datetime, *,
                       before_create: Callable[[HookChange], None] | None = None) -> HookPlan:
        """Carry out ``plan``'s changes. Default: nothing to carry out (steps for a person)."""
        return plan

    # --- proving access, describing the account (Airbyte's check and discover) ---------
    @property
    def account_module(self) -> ModuleType | None:
        """The tool's ``connectors/<tool>_account.py``, whose ``check(connector, now)`` and
        ``discover(connector, now)`` do both through this connector; None: the defaults below."""
        return companion("connectors", self.tool, "account")

    def check(self, now: datetime) -> list[str]:
        """Problems reaching the tool with the access Kickoff needs, each in words with the
        setting to fix; [] when it is ok. Default (a tool with nothing to call): every
        credential resolves."""
        if self.account_module is None:
            return self.unset_credentials()
        problems: list[str] = self.account_module.check(self, now)
        return problems

    def discover(self, now: datetime) -> Account:
        """The live account; default: nothing to read."""
        if self.account_module is None:
            return Account(tool=self.tool)
        account: Account = self.account_module.discover(self, now)
        return account

    def setting(self, credential: str) -> str:
        """Where a credential is set, by the name its reference gives (never its value)."""
        ref = self.config.credentials.get(credential)
        if ref is None:
            return f"tools.{self.tool}.credentials.{credential} in tools.yaml"
        scheme, _, name = ref.partition(":")
        return name if scheme == "env" else f"the Prefect Secret block {name}"

    @property
    def host_setting(self) -> str:
        """Where the tool's host is set."""
        return f"KICKOFF_{self.tool.upper()}_BASE_URL"

    def unset_credentials(self, names: Sequence[str] | None = None) -> list[str]:
        """A problem for each credential (all of them by default) that does not resolve."""
        problems = []
        for name in names if names is not None else list(self.config.credentials):
            try:
                self.secret(name)
            except VendorError:
                problems.append(f"{name} not set: set {self.setting(name)}")
        return problems

    def problem(self, error: VendorError, credential: str) -> str:
        """A failed check call in words, with the setting to fix (``credential`` is the one
        the call authenticated with)."""
        if error.kind is ErrorKind.AUTH and error.reason.startswith(f"{self.tool}: ") and (
                "unavailable" in error.reason or "no credential" in error.reason):  # from ``secret``
            return f"{credential} not set: set {self.setting(credential)}"
        if error.status == 401 or (error.kind is ErrorKind.AUTH and error.status != 403):
            return f"{credential} rejected: set {self.setting(credential)}"
        if error.status == 403:
            return f"access refused ({error.reason[:200]}): grant it to {self.setting(credential)}"
        if error.status is None or error.reason.startswith(("connection failed", "connect timeout")):
            return f"host unreachable: {self.host_setting}"
        return f"{error.reason[:200]} (HTTP {error.status})"


class NoReads:
    """Mixin for tools Kickoff only writes to or only hears from by webhook."""

    def read_changes(self, cursor: str | None, *, now: datetime, limit: int | None = None) -> ReadResult:
        return ReadResult(next_cursor=cursor)


class NoWebhooks:
    """Mixin for tools that never call Kickoff."""

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        raise WebhookRejected(404, f"{getattr(self, 'tool', 'this tool')} sends no webhooks")

    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        raise WebhookRejected(404, f"{getattr(self, 'tool', 'this tool')} sends no webhooks")
