"""The running stack a story test plays on, shared by the end-to-end and ops stories."""

from __future__ import annotations

from dataclasses import dataclass

from flows.demo.clock import VirtualClock
from flows.runtime import Runtime
from gateway.server import GatewayServer
from sandbox.control import SandboxControl


@dataclass
class World:
    """The runtime and its ledger, the sandbox's control, the gateway the vendors' webhooks
    reach, and the virtual clock that plays the story's moments."""

    rt: Runtime
    control: SandboxControl
    gateway: GatewayServer
    clock: VirtualClock
