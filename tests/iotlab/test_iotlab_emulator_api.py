"""The IoT-LAB emulator through the real iotlabcli functions only (address-only hosts)."""

from __future__ import annotations

from urllib.error import HTTPError

import pytest
from iotlabcli import experiment, node, profile

M3 = "m3:at86rf231"


def submit(api, emu, nodes, firmware=None, profile_name=None, duration=10, name="t", start=None):
    res = experiment.exp_resources(nodes, firmware, profile_name)
    return experiment.submit_experiment(api, name, duration, [res], start)["id"]


def run_until(emu, api, exp_id, state="Running"):
    for _ in range(20):
        if experiment.get_experiment(api, exp_id)["state"] == state:
            return
        emu.advance(5)
    raise AssertionError(f"experiment {exp_id} never {state}")


def test_submit_alias_run_and_stop(emu, api, firmware):
    exp_id = submit(api, emu, experiment.AliasNodes(2, "grenoble", M3), firmware)
    exp = experiment.get_experiment(api, exp_id)
    assert exp["state"] == "Launching" and exp["submitted_duration"] == 10
    run_until(emu, api, exp_id)
    nodes = experiment.get_experiment(api, exp_id, "nodes")["items"]
    assert [n["network_address"] for n in nodes] == ["m3-1.grenoble.iot-lab.info", "m3-2.grenoble.iot-lab.info"]
    assert all(n["state"] == "Busy" for n in nodes)
    assert experiment.get_experiment(api, exp_id)["deploymentresults"]["0"] == [n["network_address"] for n in nodes]
    active = experiment.get_experiments_list(api, "Running,Launching,toLaunch,Waiting", 0, 0)["items"]
    assert [e["id"] for e in active] == [exp_id]
    assert experiment.stop_experiment(api, exp_id)["id"] == exp_id
    with pytest.raises(HTTPError, match="already killed"):
        experiment.stop_experiment(api, exp_id)
    emu.advance(10)
    assert experiment.get_experiment(api, exp_id)["state"] == "Terminated"
    # the data archive holds the description and the firmware
    assert api.get_experiment_info(exp_id, "data")[:2] == b"\x1f\x8b"


def test_scheduler_queues_and_walltime(emu, api):
    first = submit(api, emu, experiment.AliasNodes(6, "grenoble", M3), duration=10)
    second = submit(api, emu, experiment.AliasNodes(1, "grenoble", M3), duration=5)
    assert experiment.get_experiment(api, second)["state"] == "Waiting"  # every m3 is taken
    run_until(emu, api, first)
    emu.advance(600)  # the walltime of the first one
    assert experiment.get_experiment(api, first)["state"] == "Terminated"
    run_until(emu, api, second)
    gantt = api.method("drawgantt/experiments?start=2000-01-01T00:00:00Z&stop=2100-01-01T00:00:00Z")
    assert [e["id"] for e in gantt["items"]] == [second]


def test_physical_nodes_commands_and_flash_failures(emu, api, firmware):
    names = ["m3-3.grenoble.iot-lab.info", "m3-4.grenoble.iot-lab.info"]
    exp_id = submit(api, emu, names)
    run_until(emu, api, exp_id)
    assert node.node_command(api, "reset", exp_id, names) == {"0": names}
    assert node.node_command(api, "stop", exp_id, [names[0]]) == {"0": [names[0]]}
    assert emu.testbed.by_address[names[0]].powered is False
    node.node_command(api, "start", exp_id, [names[0]])
    emu.faults.update(flash_fail_next=1)
    answer = node.node_command(api, "flash", exp_id, names, firmware)
    assert answer == {"0": [names[1]], "1": [names[0]]}
    assert emu.testbed.by_address[names[1]].firmware == "hello.elf"
    with pytest.raises(HTTPError, match="not in experiment"):
        node.node_command(api, "reset", exp_id, ["m3-5.grenoble.iot-lab.info"])


def test_profiles(emu, api):
    p = profile.ProfileM3("energy", "dc")
    p.set_consumption(period=1100, average=64, power=True)
    assert api.add_profile(p)["profilename"] == "energy"
    assert [x["profilename"] for x in api.get_profiles("m3")] == ["energy"]
    assert api.get_profile("energy")["consumption"]["average"] == 64
    exp_id = submit(api, emu, ["m3-1.grenoble.iot-lab.info"], profile_name="energy")
    run_until(emu, api, exp_id)
    assert emu.testbed.by_address["m3-1.grenoble.iot-lab.info"].profile["profilename"] == "energy"
    node.node_command(api, "profile-reset", exp_id, [])
    assert emu.testbed.by_address["m3-1.grenoble.iot-lab.info"].profile is None
    node.node_command(api, "profile", exp_id, [], "energy")
    assert emu.testbed.by_address["m3-1.grenoble.iot-lab.info"].profile["profilename"] == "energy"
    api.del_profile("energy")
    with pytest.raises(HTTPError, match="404"):
        api.get_profile("energy")


def test_node_states_and_errors(emu, api):
    emu.set_node_state("m3-2.lille.iot-lab.info", "Absent")
    items = api.get_nodes(site="lille", archi=M3)["items"]
    assert {i["network_address"]: i["state"] for i in items}["m3-2.lille.iot-lab.info"] == "Absent"
    with pytest.raises(HTTPError, match="Invalid nodes state"):
        submit(api, emu, ["m3-2.lille.iot-lab.info"])
    with pytest.raises(HTTPError, match="Not enough"):
        submit(api, emu, experiment.AliasNodes(3, "lille", M3))
    emu.faults.update(experiment_error_next=1)
    exp_id = submit(api, emu, experiment.AliasNodes(1, "lille", M3))
    emu.advance(30)
    with pytest.raises(RuntimeError, match="Error"):
        experiment.wait_experiment(api, exp_id, step=0)


def test_auth_and_http_faults(emu, api):
    import iotlabcli.rest

    bad = iotlabcli.rest.Api(emu.username, "wrong")
    bad.url = emu.url
    assert api.check_credential() is True and bad.check_credential() is False
    assert {s["site"] for s in api.method("sites")["items"]} == {"grenoble", "lille"}
    emu.faults.update(error_next=1, error_code=500)
    with pytest.raises(HTTPError, match="500"):
        experiment.get_experiments_list(api, "Running", 0, 0)


def test_reload_experiment(emu, api):
    exp_id = submit(api, emu, experiment.AliasNodes(1, "grenoble", "a8:at86rf231"), duration=5)
    run_until(emu, api, exp_id)
    nodes = experiment.get_experiment(api, exp_id)["nodes"]
    experiment.stop_experiment(api, exp_id)
    emu.advance(10)
    new = experiment.reload_experiment(api, exp_id, 7)["id"]
    assert new != exp_id
    run_until(emu, api, new)
    exp = experiment.get_experiment(api, new)
    assert exp["nodes"] == nodes and exp["submitted_duration"] == 7


def test_admin_endpoints(emu, api):
    from enoslib.emulators.kit import call_admin

    server = emu.server
    call_admin(server.admin_url, server.admin_auth, "PUT", "/nodes/m3-1.lille.iot-lab.info", {"state": "Suspected"})
    states = {i["network_address"]: i["state"] for i in api.get_nodes(site="lille")["items"]}
    assert states["m3-1.lille.iot-lab.info"] == "Suspected"
    call_admin(server.admin_url, server.admin_auth, "PUT", "/faults", {"experiment_error_next": 1})
    exp_id = submit(api, emu, experiment.AliasNodes(1, "lille", M3))
    call_admin(server.admin_url, server.admin_auth, "POST", "/clock", {"advance": 60})
    assert experiment.get_experiment(api, exp_id)["state"] == "Error"
    listed = call_admin(server.admin_url, server.admin_auth, "GET", "/experiments")["items"]
    assert [e["id"] for e in listed] == [exp_id]
