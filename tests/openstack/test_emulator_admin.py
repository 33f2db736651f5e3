"""The OpenStack emulator's control endpoints (the shared kit's ``/_emulator``), seen by an
operator with ``curl``-like calls and by the real openstacksdk."""

from __future__ import annotations

import openstack.exceptions
import pytest
import requests


def test_own_fault_knobs_and_clock_over_the_admin_endpoints(emu):
    admin, url = emu.server.admin_auth, emu.server.admin_url
    conn = emu.connection()
    image = next(i for i in conn.image.images() if i.name == "debian-12")
    net = conn.network.create_network(name="n")
    conn.network.create_subnet(network_id=net.id, cidr="10.9.0.0/24", ip_version=4)
    nets = [{"uuid": net.id}]
    assert requests.get(url + "/faults", auth=(emu.username, emu.password)).status_code == 401
    knobs = requests.put(url + "/faults", json={"boot_error_next": 1, "conflict_next": 1}, auth=admin).json()
    assert knobs["boot_error_next"] == 1 and knobs["boot_time"] == 20.0
    assert requests.put(url + "/faults", json={"nope": 1}, auth=admin).status_code == 400

    bad = conn.compute.create_server(name="a", image_id=image.id, flavor_id="1", networks=nets)
    good = conn.compute.create_server(name="b", image_id=image.id, flavor_id="1", networks=nets)
    assert requests.post(url + "/clock", json={"advance": 30}, auth=admin).json()["speed"] == 0
    assert conn.compute.get_server(bad.id).status == "ERROR"
    assert conn.compute.get_server(good.id).status == "ACTIVE"
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.compute.delete_server(good.id)
    conn.compute.delete_server(good.id)

    # the kit's generic knobs spare Keystone by default: a new login works, Nova fails
    requests.put(url + "/faults", json={"error_next": 1, "error_code": 500}, auth=admin)
    assert emu.connection().authorize()
    assert requests.get(url + "/faults", auth=admin).json()["error_next"] == 1
    with pytest.raises(openstack.exceptions.HttpException) as failed:
        conn.compute.get_server(bad.id)
    assert failed.value.status_code == 500
    assert conn.compute.get_server(bad.id).status == "ERROR"
    assert requests.delete(url + "/faults", auth=admin).json()["conflict_next"] == 0
