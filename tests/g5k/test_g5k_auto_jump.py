"""EnOSlib's global settings ``g5k_auto_jump`` and ``g5k_cache`` with the Grid'5000 provider,
against the emulator (this machine is outside Grid'5000: auto means through the access host)."""

from __future__ import annotations

import json

from g5k_helpers import basic_conf, make_client

import enoslib as en
from enoslib.infra.enos_g5k import G5k
from enoslib.infra.enos_g5k.client import set_api
from enoslib.infra.enos_g5k.reference import Reference, known_cluster_sites
from enoslib.infra.enos_g5k.tunnel import G5kTunnel

NODE = "paravance-1.rennes.grid5000.fr"


def gateways(roles):
    return {h.extra.get("gateway") for hosts in roles.values() for h in hosts}


def test_g5k_auto_jump_and_the_configuration_ssh_jump(emu, client):
    default = G5k(basic_conf(job_name="auto").add_machine(roles=["a"], cluster="paravance", nodes=1),
                  client=client)
    never = G5k(basic_conf(job_name="never", ssh_jump="never").add_machine(roles=["a"], cluster="paravance",
                                                                          nodes=1), client=client)
    always = G5k(basic_conf(job_name="always", ssh_jump="always").add_machine(roles=["a"], cluster="paravance",
                                                                             nodes=1), client=client)
    try:
        # the configuration's default (auto) follows the global setting; from outside: jump
        assert gateways(default.init()[0]) == {"access.grid5000.fr"}
        with en.config_context(g5k_auto_jump=False):  # EnOSlib's tutorials: a VPN, no jump
            assert gateways(default.init()[0]) == {None}
            assert gateways(always.init()[0]) == {"access.grid5000.fr"}  # explicit: it wins
        with en.config_context(g5k_auto_jump=True):
            assert gateways(default.init()[0]) == {"access.grid5000.fr"}
            assert gateways(never.init()[0]) == {None}  # explicit: it wins
    finally:
        for provider in (default, never, always):
            provider.destroy()


def test_g5k_auto_jump_for_g5k_objects_and_tunnels(emu):
    from enoslib.infra.enos_g5k.provider import G5kHost, G5kProdNetwork

    set_api(client=make_client(emu))
    host = G5kHost(NODE, ["server"], G5kProdNetwork(["prod"], "p", "rennes"))
    assert host.to_enoslib().extra["gateway"] == "access.grid5000.fr"
    with en.config_context(g5k_auto_jump=False):
        assert "gateway" not in host.to_enoslib().extra
        assert G5kTunnel(NODE, 80).gateway is None  # direct: nothing forwarded
    assert G5kTunnel(NODE, 80).gateway == "access.grid5000.fr"


def test_g5k_cache_off_neither_reads_nor_writes_the_disk(emu, client):
    with en.config_context(g5k_cache=False):
        assert Reference(client).cluster_site("paravance") == "rennes"
    cache = en.config.cache_dir("g5k", "reference")
    assert not list(cache.rglob("*.json")) and known_cluster_sites() == {}
    # on (the default): written, then read by the next run instead of the API
    assert Reference(client).cluster_site("paravance") == "rennes"
    [clusters] = cache.rglob("clusters-rennes.json")
    assert known_cluster_sites()["paravance"] == "rennes"
    data = json.loads(clusters.read_text())
    data["unreal"] = dict(data["paravance"], uid="unreal")  # what the next run reads
    clusters.write_text(json.dumps(data))
    assert "unreal" in Reference(client).clusters("rennes")
    with en.config_context(g5k_cache=None):
        assert "unreal" not in Reference(client).clusters("rennes")
        assert known_cluster_sites() == {}
