"""EnOSlib's documented Grid'5000 objects and utilities, used the way its docs show, unchanged.

Written from the provider API document (``enoslib.infra.enos_g5k.provider`` / ``.objects`` /
``.g5k_api_utils`` / ``.constants``), organised by documented class and function. Everything
runs against the G5k emulator through the real python-grid5000 client; the default
connection is the emulator's (as ``~/.python-grid5000.yaml`` would make it for a user).
"""

from __future__ import annotations

import itertools

import pytest

pytest.importorskip("grid5000")

from enoslib.infra.enos_g5k.client import set_api
from enoslib.objects import DefaultNetwork, Host
from tests.g5k.g5k_helpers import basic_conf, emu, make_client, private_cache  # noqa: F401 - fixtures

NODE = "paravance-1.rennes.grid5000.fr"
NODE_ETH1 = "paravance-1-eth1.rennes.grid5000.fr"


@pytest.fixture
def api(emu):
    """The emulator as the default connection (what EnOSlib reads from ~/.python-grid5000.yaml)."""
    return set_api(client=make_client(emu))


@pytest.fixture
def job(api):
    """A running job holding two paravance nodes, a routed vlan and a /22, EnOSlib style."""
    from enoslib.infra.enos_g5k.g5k_api_utils import submit_jobs, wait_for_jobs

    resources = "{type='kavlan'}/vlan=1+slash_22=1+{cluster='paravance'}/nodes=2,walltime=1:00:00"
    [job] = submit_jobs([("rennes", {"resources": resources, "name": "compat", "types": ["deploy"]})])
    wait_for_jobs([job])
    return job


# -- module paths and constants -------------------------------------------------------------
def test_documented_module_paths_import():
    from enoslib.infra.enos_g5k import constants, g5k_api_utils, objects, provider

    for name in ("G5k", "G5kBase", "G5kHost", "G5kNetwork", "G5kProdNetwork", "G5kSubnetNetwork", "G5kTunnel",
                 "G5kVlanNetwork"):
        assert hasattr(provider, name), name
    for name in ("G5kHost", "G5kNetwork", "G5kEnosProd4Network", "G5kEnosProd6Network", "G5kEnosVlan4Network",
                 "G5kEnosVlan6Network", "G5kEnosSubnetNetwork"):
        assert hasattr(objects, name), name
    assert provider.G5kHost is objects.G5kHost and issubclass(provider.G5k, provider.G5kBase)
    for name in g5k_api_utils.__all__:
        assert getattr(g5k_api_utils, name) is not None, name
    assert constants.JOB_TYPE_DEPLOY == "deploy"


def test_constants_have_documented_values():
    from enoslib.infra.enos_g5k import constants as c

    assert (c.DEFAULT_JOB_NAME, c.DEFAULT_WALLTIME, c.DEFAULT_QUEUE) == ("EnOSlib", "02:00:00", "default")
    assert c.KAVLAN_TYPE == ["kavlan", "kavlan-local", "kavlan-global"]
    assert c.SUBNET_TYPES == ["slash_16", "slash_22"] and c.NATURE_PROD == "prod" and c.PROD_VLAN_ID == "DEFAULT"
    assert c.SYNCHRONISATION_OFFSET == 60 and c.MAX_DEPLOY == 3 and c.DEFAULT_ENV_NAME
    assert set(c.NETWORK_TYPES) == {"prod", *c.KAVLAN_TYPE, *c.SUBNET_TYPES}


# -- G5kNetwork ------------------------------------------------------------------------------
class TestG5kNetwork:
    def test_is_abstract(self):
        from enoslib.infra.enos_g5k.provider import G5kNetwork

        with pytest.raises(TypeError):
            G5kNetwork(["r"], "id", "rennes")

    def test_add_host_and_add_hosts_do_not_attach(self, api):
        from enoslib.infra.enos_g5k.provider import G5kHost, G5kProdNetwork

        prod = G5kProdNetwork(["role"], "net", "rennes")
        hosts = [G5kHost(f"paravance-{i}.rennes.grid5000.fr", ["r"], prod) for i in (1, 2, 3)]
        prod.add_host(hosts[0])
        prod.add_hosts(hosts[1:])
        assert prod.hosts == hosts
        assert api.requests["POST"] == 0


class TestG5kVlanNetwork:
    def test_documented_constructor_and_facts_from_the_api(self, api):
        from enoslib.infra.enos_g5k.provider import G5kVlanNetwork

        vlan = G5kVlanNetwork(["exp"], "my_vlan", "rennes", "4")
        assert (vlan.roles, vlan.id, vlan.site, vlan.vlan_id) == (["exp"], "my_vlan", "rennes", "4")
        assert vlan.cidr == "10.24.0.0/18" and vlan.gateway == "10.24.63.254"
        assert vlan.cidr6 == "2001:660:4406:783::/64" and vlan.gateway6 is None
        assert vlan.dns and vlan.dns6 == vlan.dns
        assert vlan.apinetwork.uid == "4" and type(vlan.apinetwork).__name__ == "Vlan"

    def test_translate_over_any_iterable_both_ways(self):
        from enoslib.infra.enos_g5k.provider import G5kVlanNetwork

        vlan = G5kVlanNetwork(["exp"], "v", "rennes", "4", cidr="10.24.0.0/18")
        pairs = vlan.translate(iter([NODE, NODE_ETH1]))
        assert pairs == [(NODE, "paravance-1-kavlan-4.rennes.grid5000.fr"),
                         (NODE_ETH1, "paravance-1-eth1-kavlan-4.rennes.grid5000.fr")]
        assert vlan.translate((t for _, t in pairs), reverse=True) == [
            ("paravance-1-kavlan-4.rennes.grid5000.fr", NODE),
            ("paravance-1-eth1-kavlan-4.rennes.grid5000.fr", NODE_ETH1)]
        assert vlan.translate6({NODE}) == [(NODE, "paravance-1-kavlan-4-ipv6.rennes.grid5000.fr")]
        assert vlan.translate6(["paravance-1-kavlan-4-ipv6.rennes.grid5000.fr"], reverse=True) == [
            ("paravance-1-kavlan-4-ipv6.rennes.grid5000.fr", NODE)]
        # API uids (short names) too
        assert vlan.translate(["paravance-1", "paravance-1-eth1"]) == [
            ("paravance-1", "paravance-1-kavlan-4"), ("paravance-1-eth1", "paravance-1-eth1-kavlan-4")]

    def test_to_enos_gives_roles_and_both_ip_flavours(self, api):
        from enoslib.infra.enos_g5k.objects import G5kEnosVlan4Network, G5kEnosVlan6Network
        from enoslib.infra.enos_g5k.provider import G5kVlanNetwork

        roles, (v4, v6) = G5kVlanNetwork(["exp"], "v", "rennes", "4").to_enos()
        assert roles == ["exp"]
        assert isinstance(v4, G5kEnosVlan4Network) and isinstance(v6, G5kEnosVlan6Network)
        assert isinstance(v4, DefaultNetwork) and v4.vlan_id == v6.vlan_id == "4"
        assert v4.cidr == "10.24.0.0/18" and v4.gateway == "10.24.63.254" and v6.gateway is None
        assert v4.has_free_ips and next(iter(v4.free_ips)) == "10.24.26.0"  # away from the nodes
        assert next(iter(v6.free_ips)) == "2001:660:4406:783::1"

    def test_attach_puts_the_nics_in_the_vlan(self, api, job):
        from enoslib.infra.enos_g5k.g5k_api_utils import build_resources
        from enoslib.infra.enos_g5k.provider import G5kVlanNetwork

        nodes, networks = build_resources([job])
        [vid] = [n.descriptor for n in networks if n.nature == "kavlan"]
        G5kVlanNetwork(["exp"], "v", "rennes", vid).attach(nodes, "eth1")
        attached = {n["uid"] for n in api.items(f"/sites/rennes/vlans/{vid}/nodes")}
        assert attached >= {n.replace(".rennes", "-eth1.rennes") for n in nodes}


class TestG5kProdNetwork:
    def test_names_do_not_change_but_ipv6_ones_do(self):
        from enoslib.infra.enos_g5k.provider import G5kProdNetwork

        prod = G5kProdNetwork(["prod"], "p", "rennes", cidr="172.16.96.0/20")
        assert prod.vlan_id == "DEFAULT"
        assert prod.translate([NODE, NODE_ETH1]) == [(NODE, NODE), (NODE_ETH1, NODE_ETH1)]
        assert prod.translate([NODE], reverse=True) == [(NODE, NODE)]
        assert prod.translate6([NODE]) == [(NODE, "paravance-1-ipv6.rennes.grid5000.fr")]
        assert prod.translate6(["paravance-1-ipv6.rennes.grid5000.fr"], reverse=True) == [
            ("paravance-1-ipv6.rennes.grid5000.fr", NODE)]

    def test_to_enos_and_facts(self, api):
        from enoslib.infra.enos_g5k.objects import G5kEnosProd4Network, G5kEnosProd6Network
        from enoslib.infra.enos_g5k.provider import G5kProdNetwork

        prod = G5kProdNetwork(["prod"], "p", "rennes")
        assert (prod.cidr, prod.gateway) == ("172.16.96.0/20", "172.16.111.254")
        roles, (v4, v6) = prod.to_enos()
        assert roles == ["prod"] and type(v4) is G5kEnosProd4Network and type(v6) is G5kEnosProd6Network
        assert not v4.has_free_ips and v6.gateway is None and v6.cidr == prod.cidr6


class TestG5kSubnetNetwork:
    def test_documented_members(self, api):
        from enoslib.infra.enos_g5k.objects import G5kEnosSubnetNetwork
        from enoslib.infra.enos_g5k.provider import G5kSubnetNetwork

        sub = G5kSubnetNetwork(["vms"], "s", "rennes", ["10.158.4.0/22", "10.158.0.0/22"])
        assert (sub.vlan_id, sub.cidr, sub.cidr6, sub.gateway6, sub.apinetwork) == (None,) * 5
        assert sub.gateway  # the site's subnet gateway, from the reference
        assert sub.translate([NODE]) == [(NODE, NODE)] and sub.translate6([NODE]) == [(NODE, NODE)]
        sub.attach([NODE], "eth1")  # nothing to do: addresses come from DHCP by MAC
        roles, nets = sub.to_enos()
        assert roles == ["vms"] and [n.cidr for n in nets] == ["10.158.0.0/22", "10.158.4.0/22"]
        assert all(isinstance(n, G5kEnosSubnetNetwork) for n in nets)
        ip, mac = next(iter(nets[0].free_ips)), next(iter(nets[0].free_macs))
        assert (ip, mac.lower()) == ("10.158.0.1", "00:16:3e:9e:00:01")


# -- G5kEnos*Network (what Networks holds) ----------------------------------------------------
def test_enos_networks_documented_constructors():
    from enoslib.infra.enos_g5k.objects import (
        G5kEnosProd4Network,
        G5kEnosProd6Network,
        G5kEnosSubnetNetwork,
        G5kEnosVlan4Network,
        G5kEnosVlan6Network,
    )

    local = G5kEnosVlan4Network("192.168.208.0/20", "2", "192.168.223.254", "131.254.203.235")
    first = next(iter(local.free_ips))
    assert first == "192.168.212.0" and local.dns == "131.254.203.235" and local.vlan_id == "2"
    assert G5kEnosVlan6Network("2001:660:4406:781::/64", "2").gateway is None
    assert G5kEnosProd4Network("172.16.96.0/20", "172.16.111.254").gateway == "172.16.111.254"
    assert G5kEnosProd6Network("2001:660:4406:700::/64", "2001:660:4406:700::1").gateway is None
    sub = G5kEnosSubnetNetwork("10.158.0.0/22", "10.159.255.254")
    assert sub.has_free_macs and len(list(itertools.islice(sub.free_ips, 5))) == 5


# -- G5kHost ---------------------------------------------------------------------------------
class TestG5kHost:
    def test_documented_constructor_reads_nics_from_the_api(self, api):
        from enoslib.infra.enos_g5k.provider import G5kHost, G5kProdNetwork, G5kVlanNetwork

        prod = G5kProdNetwork(["prod"], "p", "rennes")
        vlan = G5kVlanNetwork(["exp"], "v", "rennes", "4")
        host = G5kHost(NODE, ["server"], vlan, [prod])
        assert host.apinode.uid == "paravance-1" and type(host.apinode).__name__ == "Node"
        assert host.primary_nic == ("eth0", "eno1")
        assert host.secondary_nics == [("eth1", "eno2")]
        assert host.get_nics() == [("eth0", "eno1"), ("eth1", "eno2")]
        assert host.get_nics(extra_cond=lambda nic: nic["mounted"]) == [("eth0", "eno1")]
        assert host.ssh_address == "paravance-1-kavlan-4.rennes.grid5000.fr"
        assert "eno2" in host.dhcp_networks_command()
        assert "sudo-g5k" in host.grant_root_access_command()
        assert G5kHost(NODE, ["server"], prod).secondary_networks == []

    def test_to_enoslib(self, api):
        from enoslib.infra.enos_g5k.provider import G5kHost, G5kProdNetwork

        host = G5kHost(NODE, ["server"], G5kProdNetwork(["prod"], "p", "rennes"))
        generic = host.to_enoslib()
        assert isinstance(generic, Host) and generic.address == NODE and generic.user == "root"
        # outside Grid'5000: through the access host, as the API user
        assert (generic.extra["gateway"], generic.extra["gateway_user"]) == ("access.grid5000.fr", api.login)
        other = host.to_enoslib(address="10.0.0.7", user="alice", extra={"flavour": "big"})
        assert (other.address, other.user, other.extra["flavour"]) == ("10.0.0.7", "alice", "big")

    def test_mirror_state_sets_secondary_nics_in_their_vlans(self, api, job):
        from enoslib.infra.enos_g5k.g5k_api_utils import build_resources
        from enoslib.infra.enos_g5k.provider import G5kHost, G5kProdNetwork, G5kVlanNetwork

        nodes, networks = build_resources([job])
        [vid] = [n.descriptor for n in networks if n.nature == "kavlan"]
        host = G5kHost(nodes[0], ["r"], G5kProdNetwork(["prod"], "p", "rennes"),
                       [G5kVlanNetwork(["exp"], "v", "rennes", vid)])
        host.mirror_state()
        attached = {n["uid"] for n in api.items(f"/sites/rennes/vlans/{vid}/nodes")}
        assert nodes[0].replace(".rennes", "-eth1.rennes") in attached


# -- the provider's objects --------------------------------------------------------------------
def test_provider_hosts_and_networks_are_the_documented_objects(emu, api, tmp_path):
    from enoslib.infra.enos_g5k.provider import G5k, G5kHost, G5kVlanNetwork

    key = tmp_path / "id.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0xkQ test@enoslib\n")
    conf = (basic_conf(job_type=["deploy"], env_name="debian12-min", key=str(key), wait_ssh=False, dhcp=False)
            .add_network(id="v", type="kavlan", roles=["exp"], site="rennes")
            .add_machine(roles=["server"], cluster="paravance", nodes=1, secondary_networks=["v"]))
    provider = G5k(conf, client=api)
    try:
        roles, networks = provider.init()
        [host] = provider.hosts
        assert isinstance(host, G5kHost) and host.secondary_nics == [("eth1", "eno2")]
        [vlan] = [n for n in provider.networks if isinstance(n, G5kVlanNetwork) and n.id == "v"]
        assert vlan.translate([host.fqdn]) == [(host.fqdn, host.fqdn.replace(".rennes", f"-kavlan-{vlan.vlan_id}"
                                                                             ".rennes"))]
        assert {n.cidr for n in networks["exp"]} == {vlan.cidr, vlan.cidr6}
        assert provider.jobs and roles["server"][0].address == host.ssh_address
    finally:
        provider.destroy()


# -- g5k_api_utils ---------------------------------------------------------------------------------
class TestClient:
    def test_get_api_client_is_a_python_grid5000_client(self, api):
        import grid5000

        from enoslib.infra.enos_g5k.g5k_api_utils import Client, get_api_client, get_api_username

        gk = get_api_client()
        assert isinstance(gk, Client) and isinstance(gk, grid5000.Grid5000)
        assert get_api_client() is gk and gk.excluded_sites == []
        assert gk.sites["rennes"].uid == "rennes"  # the library's own managers work on it
        assert get_api_username() == api.login

    def test_client_reads_the_python_grid5000_file(self, emu, tmp_path, monkeypatch):
        from enoslib.infra.enos_g5k.g5k_api_utils import Client

        conf = tmp_path / "g5k.yaml"
        conf.write_text(f"uri: {emu.uri}\nusername: {emu.username}\npassword: {emu.password}\n")
        monkeypatch.setenv("G5K_API_CONF", str(conf))
        gk = Client(excluded_sites=["nancy"])
        assert gk.excluded_sites == ["nancy"] and gk.sites["rennes"].uid == "rennes"

    def test_excluded_sites_are_not_scanned(self, api):
        from enoslib.infra.enos_g5k.g5k_api_utils import get_all_clusters_sites, get_api_client

        assert "grisou" in get_all_clusters_sites()
        get_api_client().excluded_sites = ["nancy"]
        assert "grisou" not in get_all_clusters_sites() and "paravance" in get_all_clusters_sites()


def test_oar_network_and_natures():
    from enoslib.infra.enos_g5k.g5k_api_utils import OarNetwork, to_prod_nature, to_subnet_nature, to_vlan_nature

    net = OarNetwork("rennes", "kavlan", "4")
    assert (net.site, net.nature, net.descriptor) == net == ("rennes", "kavlan", "4")
    assert [to_vlan_nature(v) for v in ("1", "4", "16")] == ["kavlan-local", "kavlan", "kavlan-global"]
    assert to_subnet_nature("10.158.0.0/22") == "slash_22" and to_prod_nature() == "prod"


def test_reference_lookups(api):
    from enoslib.infra.enos_g5k import g5k_api_utils as u

    assert u.get_cluster_site("paravance") == "rennes"
    assert u.get_clusters_sites(["paravance", "grisou"]) == {"paravance": "rennes", "grisou": "nancy"}
    assert u.clusters_sites_obj(["grisou"])["grisou"].uid == "nancy"
    assert "rennes" in {s.uid for s in u.get_all_sites_obj()} and u.get_site_obj("rennes").uid == "rennes"
    nodes = u.get_nodes("paravance")
    assert [n.uid for n in nodes] == [f"paravance-{i}" for i in range(1, 5)]
    assert u.get_node("rennes", "paravance", "paravance-2").uid == "paravance-2"
    assert u.get_cores("paravance") > 0 and u.get_threads("paravance") >= u.get_cores("paravance")
    assert u.get_memory("paravance") > 2**30
    assert {n["device"] for n in u.get_nics("paravance")} >= {"eth0", "eth1"}
    assert u.get_cluster_interfaces("paravance") == [("eth0", "eno1"), ("eth1", "eno2")]
    spare = u.get_clusters_interfaces(["paravance"], extra_cond=lambda nic: not nic["mounted"])
    assert spare == {"paravance": [("eth1", "eno2")]}
    assert u.get_dns("rennes") and u.get_subnet_gateway("rennes")
    assert u.get_vlans("rennes")["4"]["network"] == "10.24.0.0/18" and u.get_ipv6("rennes")
    assert u.get_vlan("rennes", "4").uid == "4"


def test_clusters_status_and_can_start_on_cluster(api, job):
    from enoslib.infra.enos_g5k.g5k_api_utils import can_start_on_cluster, get_clusters_status

    status = get_clusters_status(["paravance"])["paravance"].nodes
    now = api.now()
    busy = [n for n, s in status.items() if s.get("reservations")]
    assert len(busy) == 2
    assert can_start_on_cluster(status, 2, [], now, 3600)            # the two other nodes
    assert not can_start_on_cluster(status, 3, [], now, 3600)
    assert not can_start_on_cluster(status, 1, busy[:1], now, 3600)
    assert can_start_on_cluster(status, 4, [], now + 2 * 3600, 3600)  # after the job


def test_can_start_on_cluster_ignores_best_effort_and_dead_nodes():
    from enoslib.infra.enos_g5k.g5k_api_utils import can_start_on_cluster

    status = {"a": {"hard": "alive", "reservations": [{"queue": "besteffort", "started_at": 0, "walltime": 99}]},
              "b": {"hard": "dead", "reservations": []},
              "c": {"hard": "alive", "reservations": [{"queue": "default", "scheduled_at": 20, "walltime": 100}]}}
    assert can_start_on_cluster(status, 1, ["a"], 10, 20)       # best-effort jobs do not count
    assert not can_start_on_cluster(status, 2, [], 10, 20)      # b is dead, c busy from 20
    assert not can_start_on_cluster(status, 1, ["c"], 0, 30)
    assert can_start_on_cluster(status, 2, ["c"], 200, 10)      # after c's job


class TestJobs:
    def test_submit_wait_reload_build_and_destroy(self, api, job):
        from enoslib.infra.enos_g5k import g5k_api_utils as u

        assert job.state == "running" and job.site == "rennes"
        nodes, networks = u.build_resources([job])
        assert len(nodes) == 2 and all(n.startswith("paravance-") for n in nodes)
        natures = sorted(n.nature for n in networks)
        assert natures == ["kavlan", "prod", "slash_22"]
        assert [j.uid for j in u.grid_reload_jobs_from_name("compat")] == [job.uid]
        assert [j.uid for j in u.grid_reload_jobs_from_ids([("rennes", job.uid)])] == [job.uid]
        assert u.grid_reload_jobs_from_name("compat", restrict_to=["nancy"]) == []
        u.grid_destroy_from_name("compat", wait=True)
        assert u.grid_reload_jobs_from_name("compat") == []
        assert u.grid_reload_from_ids([("rennes", job.uid)]) == []
        assert u.grid_reload_jobs_from_ids([("rennes", job.uid)])[0].state not in ("running", "waiting")
        u.grid_destroy_from_ids([("rennes", job.uid)])  # already gone: nothing to do

    def test_job_delete_accepts_python_grid5000_jobs(self, api, job):
        from enoslib.infra.enos_g5k.g5k_api_utils import job_delete

        job_delete(job, wait=True)
        assert job.state not in ("running", "waiting", "launching")
        job_delete(job)  # a second delete is fine

    def test_duplicate_names_on_a_site_are_an_error(self, api):
        from enoslib.infra.enos_g5k.g5k_api_utils import (
            EnosG5kDuplicateJobsError,
            grid_destroy_from_name,
            grid_reload_jobs_from_name,
            submit_jobs,
        )

        spec = {"resources": "nodes=1,walltime=0:30:00", "name": "twice"}
        submit_jobs([("rennes", spec), ("rennes", dict(spec))])
        with pytest.raises(EnosG5kDuplicateJobsError, match="twice"):
            grid_reload_jobs_from_name("twice")
        grid_destroy_from_name("twice")

    def test_bad_job_spec_is_refused_before_anything_is_submitted(self, emu, api):
        from enoslib.errors import EnosConfigError
        from enoslib.infra.enos_g5k.g5k_api_utils import submit_jobs

        with pytest.raises(EnosConfigError, match="walltim"):
            submit_jobs([("rennes", {"resources": "nodes=1", "walltim": "1:00:00"})])
        assert api.requests["POST"] == 0

    def test_grid_get_or_create_job_is_idempotent(self, api):
        from enoslib.infra.enos_g5k.g5k_api_utils import grid_destroy_from_name, grid_get_or_create_job

        machines = [{"roles": ["r"], "cluster": "paravance", "nodes": 1}]
        args = ("exp", "1:00:00", None, "default", [], None, None, machines, [])
        jobs = grid_get_or_create_job(*args)
        assert [j.state for j in jobs] == ["running"]
        assert [j.uid for j in grid_get_or_create_job(*args)] == [j.uid for j in jobs]
        grid_destroy_from_name("exp")


def test_grid_deploy(api, job):
    from enoslib.infra.enos_g5k.g5k_api_utils import build_resources, grid_deploy

    nodes, _ = build_resources([job])
    deployed, undeployed = grid_deploy("rennes", nodes, {"environment": "debian12-min",
                                                         "key": "ssh-ed25519 AAAAC3Nz test"})
    assert sorted(deployed) == sorted(nodes) and undeployed == []


def test_set_nodes_vlan(api, job):
    from enoslib.infra.enos_g5k.g5k_api_utils import (
        EnosG5kInvalidArgumentsError,
        build_resources,
        set_nodes_vlan,
    )

    nodes, networks = build_resources([job])
    [vid] = [n.descriptor for n in networks if n.nature == "kavlan"]
    set_nodes_vlan(nodes, "eth1", vid)
    attached = {n["uid"] for n in api.items(f"/sites/rennes/vlans/{vid}/nodes")}
    assert attached >= {n.replace(".rennes", "-eth1.rennes") for n in nodes}
    with pytest.raises(EnosG5kInvalidArgumentsError, match="one site"):
        set_nodes_vlan([nodes[0], "grisou-1.nancy.grid5000.fr"], "eth1", vid)


def test_enable_home_for_job(api, job, emu):
    from enoslib.infra.enos_g5k.g5k_api_utils import enable_home_for_job

    enable_home_for_job(job, ["10.158.0.1"])
    rules = api.get(f"/sites/rennes/storage/home/{api.login}/access")
    assert any(r.get("ipv4") == ["10.158.0.1"] for r in rules.values())


# -- G5kTunnel and G5k.tunnel --------------------------------------------------------------------
class TestG5kTunnel:
    def test_documented_signature_and_direct_connection(self):
        from enoslib.infra.enos_g5k.provider import G5kTunnel

        tunnel = G5kTunnel(NODE, 80, 0, gateway=None)  # no gateway: nothing to forward
        with tunnel as (address, port, forwarder):
            assert (address, port, forwarder) == (NODE, 80, None)
        tunnel.close()

    def test_g5k_tunnel_is_static_and_a_tuple(self, api):
        import inspect

        from enoslib.infra.enos_g5k.provider import G5k

        assert list(inspect.signature(G5k.tunnel).parameters)[:2] == ["address", "port"]
        provider = G5k(basic_conf(ssh_jump="never").add_machine(roles=["r"], cluster="paravance"), client=api)
        address, port, forwarder = provider.tunnel(NODE, 8080)
        assert (address, port, forwarder) == (NODE, 8080, None)
        with provider.tunnel(NODE, 8080) as (address, port, _):
            assert port == 8080
