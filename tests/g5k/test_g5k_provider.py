"""The G5k provider end to end against the emulator (real python-grid5000 client, stepped clock)."""

from __future__ import annotations

import pytest
from g5k_helpers import active_jobs, basic_conf, make_client

from enoslib.errors import (
    EnosConfigError,
    EnosReservationError,
    InvalidReservationTime,
    InvalidReservationTooOld,
)
from enoslib.infra.enos_g5k import G5k, NotEnoughNodesError
from enoslib.infra.enos_g5k.oar import to_oar_date
from enoslib.infra.slots import Interval


def deploy_conf(key, **settings):
    settings.setdefault("job_type", ["deploy"])
    settings.setdefault("env_name", "debian12-min")
    return basic_conf(key=key, wait_ssh=False, dhcp=False, **settings)


def addresses(roles):
    return {role: [h.address for h in hosts] for role, hosts in roles.items()}


def test_init_reload_and_destroy_twice(emu, client):
    conf = (basic_conf().add_machine(roles=["server"], cluster="paravance", nodes=2)
            .add_machine(roles=["client"], cluster="parasilo", nodes=1))
    provider = G5k(conf, client=client)
    roles, networks = provider.init()
    assert addresses(roles) == {"server": ["paravance-1.rennes.grid5000.fr", "paravance-2.rennes.grid5000.fr"],
                                "client": ["parasilo-1.rennes.grid5000.fr"]}
    assert [n.cidr for n in networks["prod"]][:1] == ["172.16.96.0/20"]
    server = roles["server"][0]  # outside Grid'5000: through the access host, as the API user
    assert (server.extra["gateway"], server.extra["gateway_user"]) == ("access.grid5000.fr", emu.username)
    assert server.user == emu.username  # root_access=False: no sudo-g5k step, the user's own account
    assert len(active_jobs(emu)) == 1 and provider.is_created()
    # a second init, and a second run of the script (a new provider), reload: 0 duplicates
    assert addresses(provider.init()[0]) == addresses(roles)
    again = G5k(conf, client=make_client(emu))
    assert addresses(again.init()[0]) == addresses(roles)
    assert again.job_ids == provider.job_ids
    assert len(active_jobs(emu)) == 1
    provider.destroy()
    provider.destroy()
    again.destroy()
    assert active_jobs(emu) == [] and not again.is_created()


def test_context_manager_releases(emu, client):
    conf = basic_conf(ssh_jump="never").add_machine(roles=["a"], cluster="nova", nodes=1)
    with G5k(conf.to_dict(), client=client) as (roles, _):  # a plain dict works too
        assert len(roles["a"]) == 1 and len(active_jobs(emu)) == 1
        assert "gateway" not in roles["a"][0].extra
    assert active_jobs(emu) == []


def test_multi_site_one_job_per_site_in_parallel(emu, client):
    conf = (basic_conf(job_name="multi").add_machine(roles=["r"], cluster="paravance", nodes=1)
            .add_machine(roles=["n"], cluster="grisou", nodes=2).add_machine(roles=["l"], cluster="nova", nodes=1))
    provider = G5k(conf, client=client)
    roles, networks = provider.init()
    assert sorted(s for s, _ in provider.job_ids) == ["lyon", "nancy", "rennes"]
    assert {j[0] for j in active_jobs(emu)} == {"lyon", "nancy", "rennes"}
    assert all(j[3] == "multi" for j in active_jobs(emu))
    assert len(roles["n"]) == 2 and {n.site for n in networks["prod"]} == {"rennes", "nancy", "lyon"}
    provider.destroy()
    assert active_jobs(emu) == []


def test_exotic_clusters_get_the_exotic_type(emu, client):
    conf = basic_conf().add_machine(roles=["arm"], cluster="pyxis", nodes=1)
    provider = G5k(conf, client=client)
    assert "exotic" in provider.job_specs()[0].types
    provider.init()
    assert "exotic" in emu.jobs()[-1].types
    provider.destroy()


def test_exact_servers_and_min(emu, client):
    conf = (basic_conf().add_machine(roles=["s"], servers=["paravance-3.rennes.grid5000.fr",
                                                           "paravance-4.rennes.grid5000.fr"])
            .add_machine(roles=["any"], cluster="paravance", nodes=2))
    provider = G5k(conf, client=client)
    roles, _ = provider.init()
    assert addresses(roles)["s"] == ["paravance-3.rennes.grid5000.fr", "paravance-4.rennes.grid5000.fr"]
    assert addresses(roles)["any"] == ["paravance-1.rennes.grid5000.fr", "paravance-2.rennes.grid5000.fr"]
    provider.destroy()


def test_fewer_nodes_than_asked_respects_min(emu, client):
    emu.faults.update(fewer_nodes=1)
    ok = basic_conf(job_name="lenient").add_machine(roles=["a"], cluster="paravance", nodes=3, min=2)
    provider = G5k(ok, client=client)
    roles, _ = provider.init()
    assert len(roles["a"]) == 2
    provider.destroy()
    strict = basic_conf(job_name="strict").add_machine(roles=["a"], cluster="paravance", nodes=3)
    with pytest.raises(NotEnoughNodesError, match=r"machines\[0\].*got 2.*at least 3"), G5k(strict, client=client):
        pass
    assert active_jobs(emu) == []


def test_kavlan_deploy_and_secondary_networks(emu, client, key):
    conf = (deploy_conf(key).add_network(id="vlan", type="kavlan", roles=["exp"], site="rennes")
            .add_network(id="local", type="kavlan-local", roles=["priv"], site="rennes")
            .add_machine(roles=["a"], cluster="paravance", nodes=2, primary_network="vlan",
                         secondary_networks=["local"]))
    provider = G5k(conf, client=client)
    roles, networks = provider.init()
    vlan, local = provider.networks[0], provider.networks[1]
    assert vlan.kind == "kavlan" and 4 <= int(vlan.vlan_id) <= 9 and local.kind == "kavlan-local"
    assert addresses(roles)["a"] == [f"paravance-{i}-kavlan-{vlan.vlan_id}.rennes.grid5000.fr" for i in (1, 2)]
    v4 = networks["exp"][0]
    assert v4.cidr == emu.ref.sites["rennes"]["kavlans"][vlan.vlan_id]["network"] and v4.has_free_ips
    assert next(iter(v4.free_ips)) in v4
    # the deployment went into the vlan, the second NIC was moved by KaVLAN
    deps = client.items("/sites/rennes/deployments")
    assert [str(d["vlan"]) for d in deps] == [vlan.vlan_id]
    in_local = {n["uid"] for n in client.items(f"/sites/rennes/vlans/{local.vlan_id}/nodes")}
    assert in_local == {"paravance-1-eth1.rennes.grid5000.fr", "paravance-2-eth1.rennes.grid5000.fr"}
    host = provider.hosts[0]
    assert host.interface_name(local) == "eno2" and "dhclient -1 eno2" in host.dhcp_command()
    # reload: nodes already deployed (the API remembers) are not redeployed
    G5k(conf, client=make_client(emu)).init()
    assert len(client.items("/sites/rennes/deployments")) == 1
    G5k(conf, client=make_client(emu)).init(force_deploy=True)
    assert len(client.items("/sites/rennes/deployments")) == 2
    provider.destroy()


def test_global_vlan(emu, client, key):
    conf = (deploy_conf(key).add_network(id="wan", type="kavlan-global", roles=["wan"], site="rennes")
            .add_machine(roles=["r"], cluster="paravance", nodes=1, primary_network="wan")
            .add_machine(roles=["s"], cluster="parasilo", nodes=1, primary_network="wan"))
    provider = G5k(conf, client=client)
    roles, _ = provider.init()
    vid = provider.networks[0].vlan_id
    assert int(vid) >= 10 and provider.networks[0].kind == "kavlan-global"
    assert addresses(roles)["s"] == [f"parasilo-1-kavlan-{vid}.rennes.grid5000.fr"]
    provider.destroy()


def test_global_vlan_across_sites(emu, client, key):
    conf = (deploy_conf(key).add_network(id="wan", type="kavlan-global", roles=["wan"], site="nancy")
            .add_machine(roles=["r"], cluster="paravance", nodes=1, primary_network="wan")
            .add_machine(roles=["n"], cluster="grisou", nodes=1, primary_network="wan"))
    provider = G5k(conf, client=client)
    roles, _ = provider.init()
    vid = provider.networks[0].vlan_id
    assert int(vid) >= 10
    assert addresses(roles) == {"r": [f"paravance-1-kavlan-{vid}.rennes.grid5000.fr"],
                                "n": [f"grisou-1-kavlan-{vid}.nancy.grid5000.fr"]}
    provider.destroy()
    assert active_jobs(emu) == []


def test_subnets(emu, client):
    conf = (basic_conf().add_network(id="ips", type="slash_22", roles=["vms"], site="rennes")
            .add_network(id="many", type="slash_16", roles=["lots"], site="nancy")
            .add_machine(roles=["a"], cluster="paravance", nodes=1))
    provider = G5k(conf, client=client)
    _, networks = provider.init()
    (sub,) = networks["vms"]
    assert sub.cidr.endswith("/22") and sub.has_free_ips and sub.has_free_macs
    ips, macs = list(sub.free_ips), list(sub.free_macs)
    assert len(ips) == len(macs) == 1022
    _, b, c, d = (int(x) for x in ips[0].split("."))
    assert macs[0] == f"00:16:3e:{b:02x}:{c:02x}:{d:02x}"
    assert len(networks["lots"]) == 64
    assert provider.networks[1].subnets == sorted(provider.networks[1].subnets, key=lambda s: tuple(
        int(x) for x in s.split("/")[0].split(".")))
    provider.destroy()


def test_deploy_failures_retries_and_min(emu, client, key):
    emu.faults.update(deploy_fail_nodes=["paravance-2.rennes.grid5000.fr"])
    conf = deploy_conf(key, job_name="d1", deploy_tries=3).add_machine(roles=["a"], cluster="paravance", nodes=3, min=2)
    provider = G5k(conf, client=client)
    roles, _ = provider.init()
    assert addresses(roles)["a"] == ["paravance-1.rennes.grid5000.fr", "paravance-3.rennes.grid5000.fr"]
    assert [h.fqdn for h in provider.undeployed] == ["paravance-2.rennes.grid5000.fr"]
    deps = client.items("/sites/rennes/deployments")
    assert sorted(len(d["nodes"]) for d in deps) == [1, 1, 3]  # only the failed node is redeployed
    provider.destroy()


def test_deploy_failure_below_min_is_reported(emu, client, key):
    emu.faults.update(deploy_fail_nodes=["paravance-1", "paravance-2"])
    conf = deploy_conf(key, job_name="d2", deploy_tries=2).add_machine(roles=["a"], cluster="paravance", nodes=2)
    with pytest.raises(NotEnoughNodesError, match="paravance-1.rennes.grid5000.fr"):
        G5k(conf, client=client).init()
    G5k(conf, client=client).destroy()
    assert active_jobs(emu) == []


def test_transient_deploy_error_is_retried(emu, client, key):
    emu.faults.update(deploy_error_next=1)
    conf = deploy_conf(key, job_name="d3").add_machine(roles=["a"], cluster="paravance", nodes=2)
    provider = G5k(conf, client=client)
    roles, _ = provider.init()
    assert len(roles["a"]) == 2 and len(client.items("/sites/rennes/deployments")) == 2
    provider.destroy()


def test_check_enough_stops_early(emu, client, key):
    emu.faults.update(deploy_fail_nodes=["paravance-3"])
    seen = []

    def enough(deployed, undeployed):
        seen.append((len(deployed), len(undeployed)))
        return len(deployed) >= 2

    conf = deploy_conf(key, job_name="d4").add_machine(roles=["a"], cluster="paravance", nodes=3, min=2)
    provider = G5k(conf, client=client, check_enough=enough)
    provider.init()
    assert len(client.items("/sites/rennes/deployments")) == 1 and seen[-1] == (2, 1)
    provider.destroy()


def test_firewall(emu, client):
    conf = basic_conf().add_machine(roles=["web"], cluster="paravance", nodes=2)
    provider = G5k(conf, client=client)
    roles, _ = provider.init()
    with provider.firewall(hosts=[roles["web"][0]], port=[80, 443], proto="tcp"):
        rules = provider.fw_list()
        assert len(rules) == 1 and rules[0]["addr"] == ["paravance-1-ipv6.rennes.grid5000.fr"]
        assert rules[0]["port"] == [80, 443]
    assert provider.fw_list() == []
    provider.fw_create(proto="all")
    assert provider.fw_list()[0]["addr"] == ["paravance-1-ipv6.rennes.grid5000.fr",
                                             "paravance-2-ipv6.rennes.grid5000.fr"]
    provider.fw_delete()
    provider.destroy()


def test_reservation_in_the_future_and_planning(emu, client):
    now = emu.clock.now()
    conf = basic_conf(job_name="later").add_machine(roles=["a"], cluster="paravance", nodes=4)
    provider = G5k(conf, client=client)
    assert provider.test_slot(now + 60, now + 3660)
    provider.set_reservation(now + 7200)
    assert conf.reservation == to_oar_date(now + 7200)
    provider.async_init()
    assert active_jobs(emu)[0][2] == "waiting" and provider.is_created()
    # the whole cluster is taken from +2h to +3h
    other = G5k(basic_conf(job_name="other").add_machine(roles=["a"], cluster="paravance", nodes=1),
                client=make_client(emu))
    free = other.availability(now, now + 6 * 3600)
    assert free.covers(Interval(now, now + 7199))
    assert (now + 7500) not in free and (now + 3 * 3600 + 10) in free
    assert not other.test_slot(now + 7000, now + 8000) and other.test_slot(now + 3 * 3600, now + 4 * 3600)
    other.set_reservation(now + 7300)
    with pytest.raises(InvalidReservationTime) as err:
        other.init()
    assert err.value.next_time is not None and err.value.next_time >= now + 3 * 3600 - 1
    roles, _ = provider.init()  # reloads the reservation and waits for it (virtual time)
    assert len(roles["a"]) == 4 and emu.clock.now() >= now + 7200
    provider.destroy()
    assert active_jobs(emu) == []


def test_vlans_and_subnets_count_in_availability(emu, client, key):
    now = emu.clock.now()
    local = (deploy_conf(key, job_name="l1").add_network(id="v", type="kavlan-local", roles=["x"], site="rennes")
             .add_machine(roles=["a"], cluster="paravance", nodes=1, primary_network="v"))
    holders = []
    for i in range(3):  # rennes has 3 local vlans
        p = G5k(local.set(job_name=f"l{i}"), client=make_client(emu))
        p.async_init()
        holders.append(p)
    emu.advance(10)
    probe = G5k(local.set(job_name="probe"), client=make_client(emu))
    assert not probe.test_slot(now + 20, now + 600)
    assert probe.test_slot(now + 3700, now + 4000)
    for p in holders:
        p.destroy()


def test_old_reservation_and_walltime_offsets(emu, client):
    conf = basic_conf(walltime="23:30:00").add_machine(roles=["a"], cluster="nova", nodes=1)
    provider = G5k(conf, client=client)
    provider.offset_walltime(3600)
    assert conf.walltime == "24:30:00"
    with pytest.raises(EnosConfigError):
        provider.offset_walltime(-100000)
    provider.set_reservation(emu.clock.now() - 86400)
    with pytest.raises(InvalidReservationTooOld):
        provider.init()
    assert active_jobs(emu) == []


def test_job_in_error_is_reported_and_released(emu, client):
    emu.faults.update(job_error_next=1)
    conf = (basic_conf(job_name="err").add_machine(roles=["a"], cluster="paravance", nodes=1)
            .add_machine(roles=["b"], cluster="grisou", nodes=1))
    with pytest.raises(EnosReservationError, match="error"):
        G5k(conf, client=client).init()
    assert active_jobs(emu) == []


def test_reload_from_job_ids(emu, client):
    conf = basic_conf(job_name="ids").add_machine(roles=["a"], cluster="paravance", nodes=2)
    first = G5k(conf, client=client)
    roles, _ = first.init()
    (site, uid), = first.job_ids
    by_id = basic_conf(job_name="whatever", oargrid_jobids=[[site, uid]]).add_machine(
        roles=["a"], cluster="paravance", nodes=2)
    again = G5k(by_id, client=make_client(emu))
    assert addresses(again.init()[0]) == addresses(roles)
    again.destroy()
    assert active_jobs(emu) == []


def test_deploy_type_mismatch_on_reload(emu, client, key):
    plain = basic_conf(job_name="same").add_machine(roles=["a"], cluster="paravance", nodes=1)
    G5k(plain, client=client).init()
    deploy = deploy_conf(key, job_name="same").add_machine(roles=["a"], cluster="paravance", nodes=1)
    provider = G5k(deploy, client=client)
    with pytest.raises(Exception, match="without job type deploy"):
        provider.init()
    assert len(active_jobs(emu)) == 1  # not ours to kill silently: the error says what to do
    provider.destroy()
    assert active_jobs(emu) == []


def test_not_enough_nics(emu, client, key):
    conf = (deploy_conf(key).add_network(id="l1", type="kavlan-local", roles=["x"], site="lyon")
            .add_network(id="l2", type="kavlan-local", roles=["y"], site="lyon")
            .add_machine(roles=["a"], cluster="nova", nodes=1, secondary_networks=["l1", "l2"]))
    provider = G5k(conf, client=client)
    with pytest.raises(EnosConfigError, match="spare NIC") as err:
        provider.init()
    assert err.value.path == "$.resources.machines[0].secondary_networks"
    provider.destroy()


def test_dead_nodes_do_not_count_in_availability(emu, client):
    now = emu.clock.now()
    for i in (1, 2):
        emu.set_node_state(f"nova-{i}.lyon.grid5000.fr", "dead")
    four = G5k(basic_conf().add_machine(roles=["a"], cluster="nova", nodes=4), client=client)
    two = G5k(basic_conf().add_machine(roles=["a"], cluster="nova", nodes=2)
              .add_machine(roles=["b"], cluster="paravance", nodes=4), client=client)
    assert not four.availability(now, now + 3600)
    assert two.test_slot(now, now + 3600)
    assert not two.test_slot(now + 10, now)
