"""HTTP side: the kit's :class:`~enoslib.emulators.kit.http.EmulatorServer` set up as Grid'5000.

The API lives under the prefix (``/stable``), behind HTTP Basic against the
emulator's users, with the kit's fault injection; errors are Grid'5000's
``{"code", "message", "title"}``; form bodies keep ``types`` a list.

Admin endpoints (outside the prefix, never faulted) accept only the control
credentials (:attr:`G5kEmulator.admin_auth`), never an API user's:

* ``GET|PUT /_emulator/faults`` -- read / change fault knobs (JSON object);
  ``DELETE`` clears them all
* ``GET|POST /_emulator/clock`` -- ``{"now", "speed"}``; POST
  ``{"advance": seconds}`` and/or ``{"speed": x}``
* ``PUT /_emulator/nodes/<fqdn>`` -- ``{"hard": "dead"|"alive"|..., "comment": ""}``
* ``POST /_emulator/jobs/<uid>/error`` -- send that job to ``error`` now
* ``GET /_emulator/ssh_config`` -- ssh_config text for the running nodes
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..kit.http import ADMIN_LOGIN, BasicAuth, EmulatorServer, Request, Response
from .api import Api, error

if TYPE_CHECKING:
    from .emulator import G5kEmulator

__all__ = ["ADMIN_LOGIN", "make_server"]


def make_server(
    emu: G5kEmulator, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
) -> EmulatorServer:
    """A (not yet started) server answering the Grid'5000 API of ``emu``."""
    server = EmulatorServer(
        Api(emu).handle,
        prefix=emu.prefix,
        auth=BasicAuth(emu.users, realm="Grid5000 API (emulated)"),
        allow_anonymous=emu.allow_anonymous,
        faults=emu.faults,
        clock=emu.clock,
        advance=emu.advance,
        admin_login=ADMIN_LOGIN,
        admin_password=emu.admin_password,
        error=error,
        form_lists={"types"},
        down_message="The Grid'5000 API is down for maintenance (emulated)",
        host=host,
        port=port,
        server_version="g5k-emulator/1.0",
        verbose=verbose,
    )

    def node_state(req: Request, fqdn: str) -> Response:
        emu.set_node_state(fqdn, req.body.get("hard", "alive"), req.body.get("comment", ""))
        return Response(200, {"node": fqdn, **req.body})

    def job_error(req: Request, uid: str) -> Any:
        emu.fail_job(int(uid), req.body.get("message", "Job sent to error by the emulator"))
        return {"uid": int(uid), "state": "error"}

    server.admin.add("PUT", "/nodes/{fqdn}", node_state)
    server.admin.add("POST", "/jobs/{uid}/error", job_error)
    server.admin.add("GET", "/ssh_config", lambda req: {"ssh_config": emu.ssh_config()})
    return server
