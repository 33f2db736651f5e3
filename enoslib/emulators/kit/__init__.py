"""The shared emulator kit: what every testbed emulator needs, testbed-independent.

* :mod:`.http` -- :class:`EmulatorServer` (threaded HTTP on 127.0.0.1 with a
  prefix, pluggable auth, fault injection and ``/_emulator`` admin endpoints),
  :class:`Router`, :class:`Request`/:class:`Response`, :class:`BasicAuth`,
  :class:`TokenAuth`.
* :mod:`.clock` -- :class:`VirtualClock` (now/speed/advance) and :class:`Ticker`.
* :mod:`.faults` -- :class:`FaultInjector` (latency, resets, 5xx, API down,
  per-route rules, seeded).
* :mod:`.nodes` -- SSH hosts: :class:`NetnsHosts` (real, root) or :class:`Hosts`
  (addresses only), :func:`make_hosts`, :func:`render_ssh_config`.
* :mod:`.cli` -- ``enos emulate NAME`` plumbing: :func:`add_common_arguments`,
  :func:`serve`...

Importing the kit imports the standard library only.
"""

from .clock import Ticker, VirtualClock
from .faults import FaultInjector, FaultSettings, HttpFault
from .http import (
    ADMIN_LOGIN,
    AuthError,
    BasicAuth,
    EmulatorServer,
    NoAuth,
    Request,
    Response,
    Router,
    TokenAuth,
    call_admin,
    json_error,
)
from .nodes import Hosts, NetnsHosts, make_hosts, netns_available, render_ssh_config

__all__ = [
    "ADMIN_LOGIN",
    "AuthError",
    "BasicAuth",
    "EmulatorServer",
    "FaultInjector",
    "FaultSettings",
    "Hosts",
    "HttpFault",
    "NetnsHosts",
    "NoAuth",
    "Request",
    "Response",
    "Router",
    "Ticker",
    "TokenAuth",
    "VirtualClock",
    "call_admin",
    "json_error",
    "make_hosts",
    "netns_available",
    "render_ssh_config",
]
