"""The network part of the reference API: ``network_equipments`` of the sites and of the backbone.

Generated from the emulated nodes, so it always agrees with them: every mounted or mountable
node adapter with a ``switch`` is a port of that equipment (``switch_port`` is the port's
``snmp_name``); an adapter plugged into ``gw-<site>`` sits on the site's router (uid ``gw``,
alias ``gw-<site>``), any other switch named by the nodes becomes a switch with an uplink to
the router; each router has a backbone port to ``renater-<site>``. The backbone (the
top-level ``/network_equipments``) is the RENATER graph of the real reference (sites the real
backbone does not know are attached to ``renater-paris``).

Shapes follow the real documents: ``{"uid", "type": "network_equipment", "kind": "router" |
"switch" | "virtual", "site", "linecards": [{"rate", "kind", "ports": [{"uid", "kind",
"port", "snmp_name", "rate"}]}], "links"}``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from .reference import ReferenceData, natural_key

if TYPE_CHECKING:
    from .api import Api, ApiRequest, ApiResponse

__all__ = ["BACKBONE_LINKS", "backbone_equipments", "routes", "site_equipments"]

# RENATER points of presence and their links, as in the Grid'5000 reference
BACKBONE_LINKS: tuple[tuple[str, str], ...] = (
    ("grenoble", "lyon"), ("lille", "paris"), ("luxembourg", "nancy"), ("lyon", "paris"),
    ("lyon", "sophia"), ("lyon", "nantes"), ("nancy", "paris"), ("nantes", "rennes"),
    ("toulouse", "lyon"),
)
BACKBONE_RATE = 10_000_000_000
UPLINK_RATE = 100_000_000_000


def _link(prefix: str, path: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{prefix}{path}", "type": "application/vnd.grid5000.item+json"}]


def site_equipments(ref: ReferenceData, site: str, prefix: str = "/stable") -> dict[str, dict[str, Any]]:
    """The network equipments of ``site`` by uid, the router (``gw``) first."""
    router_names = {"gw", f"gw-{site}"}
    # switch -> cluster -> ports
    plugged: dict[str, dict[str, list[dict[str, Any]]]] = {}
    rates: dict[str, int] = {}
    for cluster, nodes in ref.nodes.get(site, {}).items():
        for uid, node in nodes.items():
            for ad in node.get("network_adapters") or []:
                switch = ad.get("switch")
                if not switch or not (ad.get("mounted") or ad.get("mountable")) or ad.get("management"):
                    continue
                name = "gw" if switch in router_names else switch
                rate = int(ad.get("rate") or 0)
                plugged.setdefault(name, {}).setdefault(cluster, []).append({
                    "uid": uid, "kind": "node", "port": ad.get("device"),
                    "snmp_name": ad.get("switch_port") or f"{ad.get('device')}", "rate": rate,
                    "switchport_mode": "access",
                })
                rates[name] = max(rates.get(name, 0), rate)

    def linecards(name: str) -> list[dict[str, Any]]:
        return [{"kind": "node", "rate": max(p["rate"] for p in ports), "ports": ports}
                for _, ports in sorted(plugged.get(name, {}).items(), key=lambda kv: natural_key(kv[0]))]

    site_doc = ref.sites.get(site, {})
    default = (site_doc.get("kavlans") or {}).get("default") or {}
    switches = sorted((n for n in plugged if n != "gw"), key=natural_key)
    router: dict[str, Any] = {
        "uid": "gw", "type": "network_equipment", "kind": "router", "alias": [f"gw-{site}"],
        "site": site, "model": "Emulated router", "ip": default.get("gateway"),
        "backplane_bps": 2 * UPLINK_RATE * max(1, len(switches)),
        "linecards": [
            *linecards("gw"),
            {"kind": "switch", "rate": UPLINK_RATE, "ports": [
                {"uid": s, "kind": "switch", "rate": UPLINK_RATE, "snmp_name": f"uplink-{i}",
                 "switchport_mode": "trunk"} for i, s in enumerate(switches, 1)]},
            {"kind": "backbone", "rate": BACKBONE_RATE, "ports": [
                {"uid": f"renater-{site}", "kind": "backbone", "rate": BACKBONE_RATE,
                 "snmp_name": "backbone-1", "switchport_mode": "trunk"}]},
        ],
        "links": _link(prefix, f"/sites/{site}/network_equipments/gw"),
    }
    router["linecards"] = [lc for lc in router["linecards"] if lc["ports"]]
    found = {"gw": router}
    for s in switches:
        found[s] = {
            "uid": s, "type": "network_equipment", "kind": "switch", "site": site,
            "model": "Emulated switch", "backplane_bps": 2 * max(rates.get(s, 0), UPLINK_RATE),
            "linecards": [
                *linecards(s),
                {"kind": "router", "rate": UPLINK_RATE, "ports": [
                    {"uid": "gw", "kind": "router", "rate": UPLINK_RATE, "snmp_name": "uplink-1",
                     "switchport_mode": "trunk"}]},
            ],
            "links": _link(prefix, f"/sites/{site}/network_equipments/{s}"),
        }
    return found


def backbone_equipments(ref: ReferenceData, prefix: str = "/stable") -> dict[str, dict[str, Any]]:
    """The RENATER equipments (top-level ``/network_equipments``) by uid."""
    neighbours: dict[str, list[str]] = {}
    for a, b in BACKBONE_LINKS:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    for site in ref.sites:
        if site not in neighbours:
            neighbours.setdefault(site, []).append("paris")
            neighbours.setdefault("paris", []).append(site)
    found = {}
    for pop in sorted(neighbours, key=natural_key):
        ports: list[dict[str, Any]] = [{"uid": f"renater-{n}"} for n in neighbours[pop]]
        if pop in ref.sites:
            ports.append({"uid": f"gw-{pop}", "kind": "router", "site_uid": pop})
        found[f"renater-{pop}"] = {
            "uid": f"renater-{pop}", "type": "network_equipment", "kind": "virtual",
            "linecards": [{"rate": BACKBONE_RATE, "ports": ports}],
            "links": _link(prefix, f"/network_equipments/renater-{pop}"),
        }
    return found


# -- HTTP handlers (routed by api.Api) ---------------------------------------------------------
def _backbone_list(api: Api, req: ApiRequest) -> ApiResponse:
    return api.collection("/network_equipments", list(backbone_equipments(api.emu.ref, api.prefix).values()))


def _backbone_item(api: Api, req: ApiRequest, equip: str) -> ApiResponse:
    from .api import ApiResponse, error

    found = backbone_equipments(api.emu.ref, api.prefix).get(equip)
    return ApiResponse(200, found) if found else error(404, f"Cannot find network equipment {equip}")


def _site_list(api: Api, req: ApiRequest, site: str) -> ApiResponse:
    return api.collection(f"/sites/{site}/network_equipments",
                          list(site_equipments(api.emu.ref, site, api.prefix).values()))


def _site_item(api: Api, req: ApiRequest, site: str, equip: str) -> ApiResponse:
    from .api import ApiResponse, error

    equipments = site_equipments(api.emu.ref, site, api.prefix)
    found = equipments.get(equip) or next(
        (e for e in equipments.values() if equip in (e.get("alias") or [])), None)
    return ApiResponse(200, found) if found else error(
        404, f"Cannot find network equipment {equip} on site {site}")


def routes(api: Api) -> list[tuple[str, str, Any]]:
    """The route table entries of the network endpoints (method, path regex, handler)."""
    s, e = r"(?P<site>[^/]+)", r"(?P<equip>[^/]+)"
    return [
        ("GET", r"/network_equipments", partial(_backbone_list, api)),
        ("GET", rf"/network_equipments/{e}", partial(_backbone_item, api)),
        ("GET", rf"/sites/{s}/network_equipments", partial(_site_list, api)),
        ("GET", rf"/sites/{s}/network_equipments/{e}", partial(_site_item, api)),
    ]
