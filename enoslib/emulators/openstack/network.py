"""Neutron v2.0: networks, subnets, ports, routers (+ interfaces), security groups and rules,
floating IPs; list filters on any field; Neutron's 404/409 error bodies."""

from __future__ import annotations

import ipaddress
from typing import Any, Callable

from .app import NEUTRON, Request, Response, Service, route
from .state import ApiError, iso, neutron_error, new_id

# URL collection -> (Cloud attribute, JSON singular, JSON plural)
COLLECTIONS = {
    "networks": ("networks", "network", "networks"),
    "subnets": ("subnets", "subnet", "subnets"),
    "ports": ("ports", "port", "ports"),
    "routers": ("routers", "router", "routers"),
    "security-groups": ("security_groups", "security_group", "security_groups"),
    "security-group-rules": ("security_group_rules", "security_group_rule", "security_group_rules"),
    "floatingips": ("floating_ips", "floatingip", "floatingips"),
}
_KINDS = "|".join(COLLECTIONS)
_NOT_FOUND_TYPES = {"networks": "NetworkNotFound", "subnets": "SubnetNotFound", "ports": "PortNotFound",
                    "routers": "RouterNotFound", "security-groups": "SecurityGroupNotFound",
                    "security-group-rules": "SecurityGroupRuleNotFound", "floatingips": "FloatingIPNotFound"}


def _matches(item: dict[str, Any], query: dict[str, list[str]]) -> bool:
    for key, values in query.items():
        if key in ("fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"):
            continue
        if key not in item:
            return False
        value = item[key]
        texts = {str(v).lower() for v in (value if isinstance(value, list) else [value])}
        if not texts & {v.lower() for v in values}:
            return False
    return True


class Network(Service):
    """The Neutron v2.0 API (``/network``)."""
    prefix = "/network"
    error_body = NEUTRON

    @route("GET", r"/")
    def versions(self, req: Request) -> Response:
        return Response(200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                            "links": [{"rel": "self", "href": f"{req.base_url}/network/v2.0/"}]}]})

    @route("GET", r"/v2\.0")
    def root(self, req: Request) -> Response:
        return Response(200, {"resources": [{"name": s, "collection": p, "links": []}
                                            for _, s, p in COLLECTIONS.values()]})

    @route("GET", r"/v2\.0/extensions")
    def extensions(self, req: Request) -> Response:
        names = ["router", "external-net", "security-group", "dns-integration", "standard-attr-description"]
        return Response(200, {"extensions": [{"alias": n, "name": n, "description": "", "links": [],
                                              "updated": "2013-01-01T00:00:00-00:00"} for n in names]})

    # -- generic CRUD ------------------------------------------------------------------------
    def _table(self, kind: str) -> dict[str, dict[str, Any]]:
        return getattr(self.cloud, COLLECTIONS[kind][0])

    def _get(self, req: Request, kind: str, ident: str) -> dict[str, Any]:
        item = self._table(kind).get(ident)
        if item is None or not self._visible(req, item):
            raise ApiError(404, neutron_error(_NOT_FOUND_TYPES[kind],
                                              f"{COLLECTIONS[kind][1].replace('_', ' ').capitalize()} {ident} "
                                              "could not be found."))
        return item

    def _visible(self, req: Request, item: dict[str, Any]) -> bool:
        if item.get("project_id") == req.project_id or item.get("shared") or item.get("router:external"):
            return True
        if "cidr" in item:  # a subnet of a shared or external network
            net = self.cloud.networks.get(item.get("network_id", ""), {})
            return bool(net.get("shared") or net.get("router:external"))
        return False

    @route("GET", rf"/v2\.0/(?P<kind>{_KINDS})")
    def list(self, req: Request, kind: str) -> Response:
        items = [i for i in self._table(kind).values() if self._visible(req, i) and _matches(i, req.query_lists)]
        return Response(200, {COLLECTIONS[kind][2]: [dict(i) for i in items]})

    @route("GET", rf"/v2\.0/(?P<kind>{_KINDS})/(?P<ident>[^/]+)")
    def show(self, req: Request, kind: str, ident: str) -> Response:
        return Response(200, {COLLECTIONS[kind][1]: dict(self._get(req, kind, ident))})

    @route("POST", rf"/v2\.0/(?P<kind>{_KINDS})")
    def create(self, req: Request, kind: str) -> Response:
        body = (req.body or {}).get(COLLECTIONS[kind][1])
        if not isinstance(body, dict):
            raise ApiError(400, neutron_error("BadRequest", f"Resource body required: {COLLECTIONS[kind][1]}"))
        maker: Callable[[Request, dict[str, Any]], dict[str, Any]] = getattr(self, "_new_" + COLLECTIONS[kind][0])
        item = maker(req, body)
        return Response(201, {COLLECTIONS[kind][1]: dict(item)})

    @route("PUT", rf"/v2\.0/(?P<kind>{_KINDS})/(?P<ident>[^/]+)")
    def update(self, req: Request, kind: str, ident: str) -> Response:
        item = self._get(req, kind, ident)
        body = (req.body or {}).get(COLLECTIONS[kind][1]) or {}
        for key in ("name", "description", "admin_state_up", "dns_nameservers", "security_groups"):
            if key in body:
                item[key] = body[key]
        if kind == "floatingips" and "port_id" in body:
            self._associate(req, item, body["port_id"])
        item["updated_at"] = iso(self.cloud.now())
        return Response(200, {COLLECTIONS[kind][1]: dict(item)})

    @route("DELETE", rf"/v2\.0/(?P<kind>{_KINDS})/(?P<ident>[^/]+)")
    def delete(self, req: Request, kind: str, ident: str) -> Response:
        item = self._get(req, kind, ident)
        if item.get("project_id") != req.project_id:
            raise ApiError(403, neutron_error("Forbidden", "Not authorized."))
        cloud = self.cloud
        if cloud.faults.conflict():
            raise ApiError(409, neutron_error("InUse", f"{kind} {ident} is busy (injected fault)"))
        getattr(self, "_check_delete_" + COLLECTIONS[kind][0], lambda i: None)(item)
        self._table(kind).pop(ident)
        if kind == "networks":
            for sid in list(item["subnets"]):
                cloud.subnets.pop(sid, None)
        if kind == "subnets":
            net = cloud.networks.get(item["network_id"])
            if net and ident in net["subnets"]:
                net["subnets"].remove(ident)
        if kind == "floatingips" and item.get("port_id"):
            self._associate(req, item, None)
        if kind == "security-groups":
            for rid in [r for r, rule in cloud.security_group_rules.items() if rule["security_group_id"] == ident]:
                cloud.security_group_rules.pop(rid)
        return Response(204)

    def _base(self, req: Request, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        now = iso(self.cloud.now())
        return {"id": new_id(), "name": body.get("name", ""), "description": body.get("description", ""),
                "project_id": req.project_id, "tenant_id": req.project_id, "created_at": now, "updated_at": now,
                "revision_number": 1, "tags": [], **extra}

    # -- networks / subnets --------------------------------------------------------------------
    def _new_networks(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        self.cloud.check_quota(req.project_id, "networks")
        net = self._base(req, body, status="ACTIVE", admin_state_up=body.get("admin_state_up", True), subnets=[],
                         shared=bool(body.get("shared", False)), mtu=1450,
                         **{"router:external": bool(body.get("router:external", False))})
        net["availability_zones"] = ["nova"]
        self.cloud.networks[net["id"]] = net
        return net

    def _new_subnets(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        cloud = self.cloud
        net = cloud.networks.get(body.get("network_id", ""))
        if net is None or not self._visible(req, net):
            raise ApiError(404, neutron_error("NetworkNotFound", f"Network {body.get('network_id')} could not be "
                                                                 "found."))
        try:
            cidr = ipaddress.ip_network(body.get("cidr", ""), strict=False)
        except ValueError:
            raise ApiError(400, neutron_error("BadRequest", f"Invalid input for cidr: {body.get('cidr')!r}")) from None
        for other in net["subnets"]:
            if ipaddress.ip_network(cloud.subnets[other]["cidr"]).overlaps(cidr):
                raise ApiError(400, neutron_error("BadRequest", f"Invalid input for operation: Requested subnet "
                                                                f"with cidr: {cidr} overlaps with another subnet"))
        hosts = list(_bounds(cidr))
        gateway = body.get("gateway_ip", str(hosts[0]))
        pools = body.get("allocation_pools") or [{"start": str(hosts[0] + 1), "end": str(hosts[1])}]
        for pool in pools:
            for key in ("start", "end"):
                if ipaddress.ip_address(pool[key]) not in cidr:
                    raise ApiError(400, neutron_error("BadRequest", f"The allocation pool {pool['start']}-"
                                                                    f"{pool['end']} spans beyond the subnet cidr "
                                                                    f"{cidr}."))
        subnet = self._base(req, body, network_id=net["id"], cidr=str(cidr), ip_version=cidr.version,
                            gateway_ip=gateway, allocation_pools=pools, enable_dhcp=body.get("enable_dhcp", True),
                            dns_nameservers=list(body.get("dns_nameservers") or []), host_routes=[],
                            ipv6_ra_mode=None, ipv6_address_mode=None, subnetpool_id=None)
        cloud.subnets[subnet["id"]] = subnet
        net["subnets"].append(subnet["id"])
        return subnet

    def _check_delete_networks(self, net: dict[str, Any]) -> None:
        used = [p for p in self.cloud.ports.values() if p["network_id"] == net["id"]]
        if used:
            raise ApiError(409, neutron_error("NetworkInUse", f"Unable to complete operation on network "
                                                              f"{net['id']}. There are one or more ports still in "
                                                              "use on the network."))

    def _check_delete_subnets(self, subnet: dict[str, Any]) -> None:
        if any(ip["subnet_id"] == subnet["id"] for p in self.cloud.ports.values() for ip in p["fixed_ips"]):
            raise ApiError(409, neutron_error("SubnetInUse", f"Unable to complete operation on subnet "
                                                             f"{subnet['id']}: One or more ports have an IP "
                                                             "allocation from this subnet."))

    # -- ports ---------------------------------------------------------------------------------
    def _new_ports(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        net = self.cloud.networks.get(body.get("network_id", ""))
        if net is None or not self._visible(req, net):
            raise ApiError(404, neutron_error("NetworkNotFound", f"Network {body.get('network_id')} could not be "
                                                                 "found."))
        fixed = (body.get("fixed_ips") or [{}])[0]
        return self.make_port(net, req.project_id, name=body.get("name", ""), device_id=body.get("device_id", ""),
                              device_owner=body.get("device_owner", ""), fixed_ip=fixed.get("ip_address"),
                              subnet_id=fixed.get("subnet_id"), security_groups=body.get("security_groups") or [])

    def make_port(self, net: dict[str, Any], project_id: str, *, name: str = "", device_id: str = "",
                  device_owner: str = "", fixed_ip: str | None = None, subnet_id: str | None = None,
                  security_groups: list[str] | None = None) -> dict[str, Any]:
        cloud = self.cloud
        subnets = [cloud.subnets[s] for s in net["subnets"] if subnet_id in (None, s)]
        if not subnets:
            raise ApiError(400, neutron_error("BadRequest", f"network {net['id']} has no subnet"))
        subnet = subnets[0]
        address = cloud.allocate_ip(subnet, fixed_ip)
        now = iso(cloud.now())
        port = {"id": new_id(), "name": name, "description": "", "network_id": net["id"], "project_id": project_id,
                "tenant_id": project_id, "mac_address": cloud.mac(), "admin_state_up": True, "status": "ACTIVE",
                "device_id": device_id, "device_owner": device_owner,
                "fixed_ips": [{"subnet_id": subnet["id"], "ip_address": address}],
                "security_groups": list(security_groups or []), "binding:vnic_type": "normal",
                "allowed_address_pairs": [], "created_at": now, "updated_at": now, "tags": [],
                "revision_number": 1}
        cloud.ports[port["id"]] = port
        return port

    def drop_ports(self, device_id: str) -> None:
        cloud = self.cloud
        for pid in [p for p, port in cloud.ports.items() if port["device_id"] == device_id]:
            cloud.ports.pop(pid)
            for fip in cloud.floating_ips.values():
                if fip["port_id"] == pid:
                    self._unplug(fip)

    def addresses_of(self, device_id: str) -> dict[str, list[dict[str, Any]]]:
        """Nova's ``addresses`` of a server: fixed IPs and floating IPs, by network name."""
        cloud = self.cloud
        out: dict[str, list[dict[str, Any]]] = {}
        for port in cloud.ports.values():
            if port["device_id"] != device_id:
                continue
            entries = out.setdefault(cloud.networks[port["network_id"]]["name"], [])
            for ip in port["fixed_ips"]:
                entries.append({"addr": ip["ip_address"], "version": 4, "OS-EXT-IPS:type": "fixed",
                                "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
            for fip in cloud.floating_ips.values():
                if fip["port_id"] == port["id"]:
                    entries.append({"addr": fip["floating_ip_address"], "version": 4,
                                    "OS-EXT-IPS:type": "floating", "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
        return out

    def _check_delete_ports(self, port: dict[str, Any]) -> None:
        if port["device_owner"].startswith("network:router_interface"):
            raise ApiError(409, neutron_error("PortInUse", f"Port {port['id']} cannot be deleted directly via the "
                                                           "port API: has device owner network:router_interface."))
        for fip in self.cloud.floating_ips.values():
            if fip["port_id"] == port["id"]:
                self._unplug(fip)

    # -- routers -------------------------------------------------------------------------------
    def _new_routers(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        self.cloud.check_quota(req.project_id, "routers")
        gw = body.get("external_gateway_info") or None
        if gw:
            ext = self.cloud.networks.get(gw.get("network_id", ""))
            if ext is None or not ext["router:external"]:
                raise ApiError(404, neutron_error("ExternalNetworkNotFound", f"External network "
                                                                            f"{gw.get('network_id')} not found"))
            gw = {"network_id": ext["id"], "enable_snat": True, "external_fixed_ips": []}
        router = self._base(req, body, status="ACTIVE", admin_state_up=True, external_gateway_info=gw, routes=[],
                            distributed=False, ha=False)
        self.cloud.routers[router["id"]] = router
        return router

    def _check_delete_routers(self, router: dict[str, Any]) -> None:
        if any(p["device_id"] == router["id"] and p["device_owner"] == "network:router_interface"
               for p in self.cloud.ports.values()):
            raise ApiError(409, neutron_error("RouterInUse", f"Router {router['id']} still has ports"))

    @route("PUT", r"/v2\.0/routers/(?P<ident>[^/]+)/add_router_interface")
    def add_interface(self, req: Request, ident: str) -> Response:
        router = self._get(req, "routers", ident)
        subnet = self._get(req, "subnets", (req.body or {}).get("subnet_id", ""))
        for p in self.cloud.ports.values():
            if p["device_id"] == router["id"] and any(ip["subnet_id"] == subnet["id"] for ip in p["fixed_ips"]):
                raise ApiError(400, neutron_error("BadRequest", f"Router already has a port on subnet "
                                                                f"{subnet['id']}"))
        port = self.make_port(self.cloud.networks[subnet["network_id"]], req.project_id, device_id=router["id"],
                              device_owner="network:router_interface", fixed_ip=subnet["gateway_ip"],
                              subnet_id=subnet["id"])
        return Response(200, {"id": router["id"], "subnet_id": subnet["id"], "subnet_ids": [subnet["id"]],
                              "port_id": port["id"], "tenant_id": req.project_id, "project_id": req.project_id})

    @route("PUT", r"/v2\.0/routers/(?P<ident>[^/]+)/remove_router_interface")
    def remove_interface(self, req: Request, ident: str) -> Response:
        router = self._get(req, "routers", ident)
        subnet_id = (req.body or {}).get("subnet_id", "")
        for pid, p in list(self.cloud.ports.items()):
            if p["device_id"] == router["id"] and any(ip["subnet_id"] == subnet_id for ip in p["fixed_ips"]):
                if any(f["router_id"] == router["id"] for f in self.cloud.floating_ips.values()
                       if f["port_id"] and self._subnet_of_port(f["port_id"]) == subnet_id):
                    raise ApiError(409, neutron_error("RouterInterfaceInUseByFloatingIP",
                                                      f"Router interface for subnet {subnet_id} on router "
                                                      f"{router['id']} cannot be deleted, as it is required by one "
                                                      "or more floating IPs."))
                self.cloud.ports.pop(pid)
                return Response(200, {"id": router["id"], "subnet_id": subnet_id, "port_id": pid})
        raise ApiError(404, neutron_error("RouterInterfaceNotFoundForSubnet",
                                          f"Router {router['id']} has no interface on subnet {subnet_id}"))

    def _subnet_of_port(self, port_id: str) -> str | None:
        port = self.cloud.ports.get(port_id)
        return port["fixed_ips"][0]["subnet_id"] if port and port["fixed_ips"] else None

    # -- security groups -----------------------------------------------------------------------
    def _new_security_groups(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        self.cloud.check_quota(req.project_id, "security_groups")
        sg = self._base(req, body, security_group_rules=[], stateful=True)
        self.cloud.security_groups[sg["id"]] = sg
        for ether in ("IPv4", "IPv6"):
            self._rule(req, {"security_group_id": sg["id"], "direction": "egress", "ethertype": ether})
        return self._sg_view(sg)

    def _sg_view(self, sg: dict[str, Any]) -> dict[str, Any]:
        sg["security_group_rules"] = [dict(r) for r in self.cloud.security_group_rules.values()
                                      if r["security_group_id"] == sg["id"]]
        return sg

    def _check_delete_security_groups(self, sg: dict[str, Any]) -> None:
        if any(sg["id"] in p["security_groups"] for p in self.cloud.ports.values()):
            raise ApiError(409, neutron_error("SecurityGroupInUse", f"Security Group {sg['id']} in use."))

    def _new_security_group_rules(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        sg = self._get(req, "security-groups", body.get("security_group_id", ""))
        if body.get("direction") not in ("ingress", "egress"):
            raise ApiError(400, neutron_error("BadRequest", "Invalid input for direction"))
        for r in self.cloud.security_group_rules.values():
            if r["security_group_id"] == sg["id"] and all(
                    r.get(k) == body.get(k) for k in ("direction", "protocol", "port_range_min", "port_range_max",
                                                      "remote_ip_prefix")):
                raise ApiError(409, neutron_error("SecurityGroupRuleExists", f"Security group rule already "
                                                                             f"exists. Rule id is {r['id']}."))
        return self._rule(req, body)

    def _rule(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        rule = self._base(req, body, security_group_id=body["security_group_id"], direction=body["direction"],
                          ethertype=body.get("ethertype", "IPv4"), protocol=body.get("protocol"),
                          port_range_min=body.get("port_range_min"), port_range_max=body.get("port_range_max"),
                          remote_ip_prefix=body.get("remote_ip_prefix"), remote_group_id=body.get("remote_group_id"))
        self.cloud.security_group_rules[rule["id"]] = rule
        return rule

    # -- floating IPs --------------------------------------------------------------------------
    def _new_floating_ips(self, req: Request, body: dict[str, Any]) -> dict[str, Any]:
        cloud = self.cloud
        ext = cloud.networks.get(body.get("floating_network_id", ""))
        if ext is None or not ext["router:external"]:
            raise ApiError(404, neutron_error("ExternalNetworkNotFound", f"Network "
                                                                        f"{body.get('floating_network_id')} could "
                                                                        "not be found or is not external."))
        cloud.check_quota(req.project_id, "floating_ips")
        subnet = cloud.subnets[ext["subnets"][0]]
        address = cloud.allocate_ip(subnet, body.get("floating_ip_address"))
        fip = self._base(req, body, floating_network_id=ext["id"], floating_ip_address=address, port_id=None,
                         fixed_ip_address=None, router_id=None, status="DOWN", port_details=None)
        fip.pop("name")
        cloud.floating_ips[fip["id"]] = fip
        if body.get("port_id"):
            try:
                self._associate(req, fip, body["port_id"])
            except ApiError:
                cloud.floating_ips.pop(fip["id"])
                raise
        return fip

    def _associate(self, req: Request, fip: dict[str, Any], port_id: str | None) -> None:
        if fip.get("port_id"):
            self._unplug(fip)
        if port_id is None:
            return
        port = self._get(req, "ports", port_id)
        if any(f["port_id"] == port_id for f in self.cloud.floating_ips.values() if f is not fip):
            raise ApiError(409, neutron_error("FloatingIPPortAlreadyAssociated",
                                              f"Cannot associate floating IP {fip['floating_ip_address']} with port "
                                              f"{port_id}: it already has a floating IP"))
        subnet_id = port["fixed_ips"][0]["subnet_id"]
        router = next((r for r in self.cloud.routers.values()
                       if (r.get("external_gateway_info") or {}).get("network_id") == fip["floating_network_id"]
                       and any(p["device_id"] == r["id"] and p["fixed_ips"][0]["subnet_id"] == subnet_id
                               for p in self.cloud.ports.values())), None)
        if router is None:
            raise ApiError(404, neutron_error("ExternalGatewayForFloatingIPNotFound",
                                              f"External network {fip['floating_network_id']} is not reachable "
                                              f"from subnet {subnet_id}."))
        fip.update(port_id=port_id, fixed_ip_address=port["fixed_ips"][0]["ip_address"], router_id=router["id"],
                   status="ACTIVE")
        if self.cloud.backend is not None:
            self.cloud.backend.plug_floating(fip["floating_ip_address"], fip["fixed_ip_address"], port["device_id"])

    def _unplug(self, fip: dict[str, Any]) -> None:
        if self.cloud.backend is not None and fip.get("fixed_ip_address"):
            self.cloud.backend.unplug_floating(fip["floating_ip_address"])
        fip.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN")


def _bounds(cidr: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[Any, Any]:
    """First and last usable host addresses."""
    if cidr.num_addresses <= 2:
        return cidr[0], cidr[-1]
    return cidr[1], cidr[-2]
