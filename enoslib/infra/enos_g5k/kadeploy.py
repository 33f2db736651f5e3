"""Kadeploy deployments through the Grid'5000 API: the one implementation the provider and
the execo-style toolbox share.

:func:`deploy_rounds` is execo's "clever deploy": find the nodes already deployed, deploy the
others, check, and redeploy only what is still undeployed, up to ``tries`` rounds or until
``check_enough(deployed, undeployed)`` says it is enough. Nodes are grouped by (site, vlan):
one deployment per group and round, all groups at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from enoslib.errors import EnosProviderError
from enoslib.infra.enos_g5k.client import G5kApiError, G5kClient
from enoslib.infra.enos_g5k.oar import run_parallel

logger = logging.getLogger(__name__)

FINAL_STATUSES = ("terminated", "error", "canceled")
POLL_DELAY = 10.0

NodeSet = set[str]
CheckFunc = Callable[[Sequence[str]], Iterable[str]]
EnoughFunc = Callable[[NodeSet, NodeSet], bool]


@dataclass(frozen=True)
class Target:
    """Where a node is deployed: its site and the vlan its primary NIC goes to (None: prod)."""

    site: str
    vlan: str | None = None


def start(client: G5kClient, site: str, nodes: Sequence[str], environment: str, *,
          version: Any = None, key: str | None = None, vlan: str | None = None,
          user: str | None = None, **options: Any) -> dict[str, Any]:
    """POST a deployment; a lost answer is reconciled with the deployment list (no duplicate)."""
    body: dict[str, Any] = {"nodes": list(nodes), "environment": environment}
    if version is not None:
        body["version"] = version
    if key:
        body["key"] = key
    if vlan is not None and str(vlan).upper() != "DEFAULT":
        body["vlan"] = str(vlan)
    body.update({k: v for k, v in options.items() if v is not None})
    since = client.now() - 600

    def reconcile() -> dict[str, Any] | None:
        for dep in client.items(f"/sites/{site}/deployments", user=user, status="waiting,processing"):
            if sorted(dep.get("nodes", [])) == sorted(nodes) and dep.get("created_at", 0) >= since \
                    and dep.get("environment") == environment:
                return dep
        return None

    dep = client.post(f"/sites/{site}/deployments", body, reconcile=reconcile)
    logger.info("%s: deployment %s of %s on %d node(s)%s", site, dep.get("uid"), environment, len(nodes),
                f" into vlan {vlan}" if body.get("vlan") else "")
    return {**dep, "site": site}


def outcome(dep: dict[str, Any], nodes: Iterable[str]) -> tuple[NodeSet, NodeSet]:
    """(OK nodes, other nodes) of a finished deployment. Status ``error`` or ``canceled``
    means none is deployed."""
    nodes = set(nodes)
    if dep.get("status") != "terminated":
        return set(), nodes
    result = dep.get("result") or {}
    ok = {n for n, r in result.items() if str((r or {}).get("state", "")).upper() == "OK"}
    return ok & nodes, nodes - ok


def wait(client: G5kClient, deployments: Sequence[dict[str, Any]], *, timeout: float | None = None
         ) -> list[dict[str, Any]]:
    """Poll deployments until they all end (cancelled after ``timeout`` seconds)."""
    current = [dict(d) for d in deployments]
    deadline = None if timeout is None else client.now() + timeout
    while True:
        for i, dep in enumerate(current):
            if dep.get("status") not in FINAL_STATUSES:
                current[i] = {**client.get(f"/sites/{dep['site']}/deployments/{dep['uid']}"), "site": dep["site"]}
        running = [d for d in current if d.get("status") not in FINAL_STATUSES]
        if not running:
            return current
        if deadline is not None and client.now() >= deadline:
            for dep in running:
                logger.warning("%s: deployment %s timed out, cancelling it", dep["site"], dep["uid"])
                try:
                    client.delete(f"/sites/{dep['site']}/deployments/{dep['uid']}")
                except G5kApiError as exc:
                    logger.warning("could not cancel deployment %s: %s", dep["uid"], exc)
                dep["status"] = "canceled"
            return current
        client.sleep(POLL_DELAY)


def deployed_since(client: G5kClient, site: str, nodes: Iterable[str], environment: str, *,
                   since: float, version: Any = None, vlan: str | None = None,
                   user: str | None = None) -> NodeSet:
    """Nodes whose latest deployment since ``since`` (their job's start) installed
    ``environment`` (and ``version``) successfully, into ``vlan``: the API's own memory of what
    is deployed, no SSH needed."""
    wanted = set(nodes)
    latest: dict[str, tuple[int, bool]] = {}
    for dep in client.items(f"/sites/{site}/deployments", user=user, limit=500):
        created = int(dep.get("created_at") or 0)
        if created < since or dep.get("status") not in FINAL_STATUSES:
            continue
        same = dep.get("environment") == environment and (version is None or str(dep.get("version")) == str(version))
        dep_vlan = dep.get("vlan")
        same = same and (str(dep_vlan) if dep_vlan not in (None, "") else None) == (
            str(vlan) if vlan not in (None, "DEFAULT") else None)
        ok, _ = outcome(dep, dep.get("nodes", []))
        for node in dep.get("nodes", []):
            if node in wanted and (node not in latest or latest[node][0] <= created):
                latest[node] = (created, same and node in ok)
    return {n for n, (_, good) in latest.items() if good}


def _launch(client: G5kClient, target: Target, nodes: list[str], environment: str, **options: Any
            ) -> dict[str, Any] | None:
    """Start one deployment; None when the API failed for now (the nodes stay undeployed this round)."""
    try:
        return start(client, target.site, nodes, environment, vlan=target.vlan, **options)
    except G5kApiError as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            raise EnosProviderError(f"{target.site}: kadeploy refused the deployment: {exc}") from exc
        logger.warning("%s: could not start a deployment this round: %s", target.site, exc)
        return None


def deploy_rounds(client: G5kClient, targets: dict[str, Target], environment: str, *,
                  version: Any = None, key: str | None = None, tries: int = 3,
                  already_deployed: CheckFunc | None = None, verify: CheckFunc | None = None,
                  check_enough: EnoughFunc | None = None, user: str | None = None,
                  timeout: float | None = None, **options: Any) -> tuple[NodeSet, NodeSet]:
    """Deploy ``targets`` (node FQDN -> :class:`Target`) in up to ``tries`` rounds.

    ``already_deployed(nodes)`` (before the first round) and ``verify(nodes)`` (after each
    round, on the nodes kadeploy reported OK; default: trust kadeploy) return the nodes that
    are deployed. ``check_enough(deployed, undeployed)`` stops early (default: when nothing is
    left). Returns ``(deployed, undeployed)``; never raises for per-node failures.
    """
    enough = check_enough or (lambda deployed, undeployed: not undeployed)
    undeployed: NodeSet = set(targets)
    deployed: NodeSet = set()
    if already_deployed is not None and undeployed:
        found = set(already_deployed(sorted(undeployed))) & undeployed
        if found:
            logger.info("%d node(s) already deployed with %s: not redeploying them", len(found), environment)
        deployed |= found
        undeployed -= found
    round_ = 0
    while undeployed and round_ < tries and not enough(set(deployed), set(undeployed)):
        round_ += 1
        groups: dict[Target, list[str]] = {}
        for node in sorted(undeployed):
            groups.setdefault(targets[node], []).append(node)
        logger.info("deployment round %d/%d: %d node(s) in %d group(s)", round_, tries, len(undeployed), len(groups))
        launched = run_parallel([lambda t=t, n=n: _launch(client, t, n, environment, version=version, key=key,
                                                          user=user, **options) for t, n in groups.items()])
        started = [(dep, nodes) for dep, nodes in zip(launched, groups.values()) if dep is not None]
        finished = wait(client, [d for d, _ in started], timeout=timeout)
        ok: NodeSet = set()
        for dep, (_, nodes) in zip(finished, started):
            good, bad = outcome(dep, nodes)
            if bad:
                logger.warning("%s: deployment %s: %d node(s) not deployed (%s)%s", dep["site"], dep["uid"],
                               len(bad), ", ".join(sorted(bad)[:5]),
                               "" if dep.get("status") == "terminated" else f", status {dep.get('status')}")
            ok |= good
        if verify is not None and ok:
            ok = set(verify(sorted(ok))) & ok
        deployed |= ok
        undeployed -= ok
    return deployed, undeployed
