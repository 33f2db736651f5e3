"""OAR jobs on the Grid'5000 emulator through python-grid5000: forms, states, scheduling."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

grid5000 = pytest.importorskip("grid5000")

from enoslib.emulators.g5k import G5kEmulator, legacy_dataset
from enoslib.emulators.g5k.oar import PARIS

MONDAY_10H = datetime(2030, 1, 7, 10, 0, tzinfo=PARIS).timestamp()  # a Monday, Paris time


def paris(ts: float) -> str:
    return datetime.fromtimestamp(ts, PARIS).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture()
def emu():
    with G5kEmulator(
        legacy_dataset(4), speed=0,
        backend="address",
        nodes_per_cluster=4,
        start_time=MONDAY_10H,
        users={"alice": "a", "bob": "b"},
        launch_delay=3,
        kill_delay=1,
    ) as e:
        yield e


@pytest.fixture()
def rennes(emu):
    return emu.client().sites["rennes"]


def submit(site, resources, **extra):
    spec = {"resources": resources, "command": "sleep 86400", **extra}
    return site.jobs.create(spec)


def run(emu, *jobs, seconds=5):
    emu.advance(seconds)
    for job in jobs:
        job.refresh()


def test_lifecycle_waiting_launching_running_terminated(emu, rennes):
    job = submit(rennes, "{cluster='paravance'}/nodes=2,walltime=1:00", name="life")
    assert job.state == "waiting" and job.assigned_nodes == [] and job.started_at == 0
    assert job.walltime == 3600 and job.user == "alice" and job.name == "life"
    run(emu, job, seconds=1)
    assert job.state == "launching"
    assert job.assigned_nodes == [
        "paravance-1.rennes.grid5000.fr",
        "paravance-2.rennes.grid5000.fr",
    ]
    assert job.resources_by_type["cores"][0] == "paravance-1.rennes.grid5000.fr/0"
    assert len(job.resources_by_type["cores"]) == 32
    run(emu, job, seconds=3)
    assert job.state == "running" and job.started_at == int(MONDAY_10H) + 1
    status = rennes.clusters["paravance"].status.list().nodes
    assert status["paravance-1.rennes.grid5000.fr"]["soft"] == "busy"
    assert status["paravance-1.rennes.grid5000.fr"]["reservations"][0]["uid"] == job.uid
    assert status["paravance-3.rennes.grid5000.fr"]["soft"] == "free"
    run(emu, job, seconds=3600)
    assert job.state == "terminated" and job.stopped_at == job.started_at + 3600
    assert "exit_code" in job.attributes
    assert (
        rennes.clusters["paravance"]
        .status.list()
        .nodes["paravance-1.rennes.grid5000.fr"]["reservations"]
        == []
    )


def test_resource_forms(emu, rennes):
    hosts = submit(
        rennes,
        "{host in ('paravance-2.rennes.grid5000.fr','paravance-4.rennes.grid5000.fr')}/nodes=2",
    )
    by_addr = submit(rennes, "{network_address in ('parasilo-3.rennes.grid5000.fr')}/nodes=1")
    subnet = submit(rennes, "slash_22=1")
    big = submit(rennes, "slash_16=1")
    routed = submit(rennes, "{type='kavlan'}/vlan=1")
    local = submit(rennes, "{type='kavlan-local'}/vlan=1")
    glob = submit(rennes, "{type='kavlan-global'}/vlan=1")
    combo = submit(
        rennes,
        "{cluster='paravance'}/nodes=1+{cluster='parasilo'}/nodes=2"
        "+{type='kavlan'}/vlan=1+slash_22=2,walltime=26:00:00",
    )
    disks = submit(rennes, "{(type='default' or type='disk') AND cluster='parasilo'}/nodes=1")
    run(emu, hosts, by_addr, subnet, big, routed, local, glob, combo, disks)
    assert hosts.assigned_nodes == [
        "paravance-2.rennes.grid5000.fr",
        "paravance-4.rennes.grid5000.fr",
    ]
    assert by_addr.assigned_nodes == ["parasilo-3.rennes.grid5000.fr"]
    assert subnet.assigned_nodes == [] and len(subnet.resources_by_type["subnets"]) == 1
    assert len(big.resources_by_type["subnets"]) == 64
    assert not set(subnet.resources_by_type["subnets"]) & set(big.resources_by_type["subnets"])
    assert routed.resources_by_type["vlans"][0] in {"4", "5", "6", "7", "8", "9"}
    assert local.resources_by_type["vlans"][0] in {"1", "2", "3"}
    assert glob.resources_by_type["vlans"] == ["16"]
    assert combo.walltime == 26 * 3600 and len(combo.assigned_nodes) == 3
    assert combo.assigned_nodes[0].startswith("paravance-")
    assert combo.resources_by_type["vlans"] != routed.resources_by_type["vlans"]
    assert len(combo.resources_by_type["subnets"]) == 2
    assert disks.resources_by_type["disks"][0].endswith(disks.assigned_nodes[0])
    assert all(j.state == "running" for j in (hosts, combo, subnet))


def test_walltime_field_types_project_queue_and_command(emu, rennes):
    job = rennes.jobs.create(
        {
            "resources": "nodes=1",
            "walltime": "0:30",
            "command": "sleep 60",
            "types": ["deploy", "allow_classic_ssh"],
            "project": "lab",
            "queue": "default",
            "name": "fields",
        }
    )
    assert job.walltime == 1800 and job.types == ["deploy", "allow_classic_ssh"]
    assert job.project == "lab" and job.queue == "default" and job.command == "sleep 60"
    run(emu, job, seconds=4)
    assert job.state == "running"
    run(emu, job, seconds=60)  # the command ends before the walltime
    assert job.state == "terminated" and job.stopped_at - job.started_at == 63


def test_invalid_requests_are_400_with_oar_text(rennes):
    cases = [
        {"resources": "{cluster='paravance'}/nodes=100", "command": "x"},
        {"resources": "{bogus_prop='x'}/nodes=1", "command": "x"},
        {"resources": "nodes=1,walltime=1:99", "command": "x"},
        {"resources": "nodes=1"},
        {"resources": "nodes=1", "command": "x", "queue": "nope"},
        {"resources": "nodes=1", "reservation": "tomorrow at noon"},
    ]
    for spec in cases:
        with pytest.raises(grid5000.Grid5000CreateError) as err:
            rennes.jobs.create(spec)
        assert err.value.response_code == 400, spec
        assert "The job you are trying to submit is not valid" in err.value.error_message
    with pytest.raises(grid5000.Grid5000CreateError) as err:
        rennes.jobs.create(cases[0])
    assert "There are not enough resources" in err.value.error_message


def test_queues_and_exotic(emu):
    gk = emu.client()
    with pytest.raises(grid5000.Grid5000CreateError):
        submit(gk.sites["rennes"], "{cluster='roazhon4'}/nodes=1")
    prod = submit(gk.sites["rennes"], "{cluster='roazhon4'}/nodes=1", queue="production")
    lyon = gk.sites["lyon"]
    with pytest.raises(grid5000.Grid5000CreateError):
        submit(lyon, "nodes=6")  # pyxis is exotic: 4 nova only
    exotic = submit(lyon, "nodes=6", types=["exotic"])
    named = submit(lyon, "{cluster='pyxis'}/nodes=1")  # naming an exotic cluster is enough
    run(emu, prod, exotic, named)
    assert prod.state == "running" and prod.assigned_nodes == ["roazhon4-1.rennes.grid5000.fr"]
    assert sum(n.startswith("pyxis") for n in exotic.assigned_nodes) == 2
    assert named.assigned_nodes == ["pyxis-3.lyon.grid5000.fr"]


def test_list_filters_and_order(emu):
    alice, bob = emu.client("alice").sites["nancy"], emu.client("bob").sites["nancy"]
    a1 = submit(alice, "nodes=1", name="exp")
    a2 = submit(alice, "nodes=1", name="other")
    b1 = submit(bob, "nodes=1", name="exp")
    assert [j.uid for j in alice.jobs.list()] == [b1.uid, a2.uid, a1.uid]
    assert [j.uid for j in alice.jobs.list(name="exp", user="alice")] == [a1.uid]
    assert [j.uid for j in alice.jobs.list(user="bob")] == [b1.uid]
    assert len(alice.jobs.list(state="waiting,launching,running")) == 3
    run(emu, a1)
    a1.delete()
    emu.advance(2)
    assert [j.uid for j in alice.jobs.list(state="ERROR")] == [a1.uid]
    listed = alice.jobs.list(name="other", resources="yes")[0]
    assert (
        listed.assigned_nodes
        and "assigned_nodes" not in alice.jobs.list(name="other")[0].attributes
    )


def test_delete_paths(emu, rennes):
    job = submit(rennes, "nodes=1")
    run(emu, job)
    job.delete()
    job.refresh()
    assert job.state == "finishing"
    run(emu, job, seconds=1)
    assert job.state == "error" and any(e["type"] == "FRAG_JOB_REQUEST" for e in job.events)
    with pytest.raises(grid5000.Grid5000DeleteError) as err:
        job.delete()
    assert "This job was already killed" in err.value.error_message
    waiting = submit(rennes, "nodes=1")
    waiting.delete()
    waiting.refresh()
    assert waiting.state == "error"
    with pytest.raises(grid5000.Grid5000GetError) as err:
        rennes.jobs[999]
    assert err.value.response_code == 404
    theirs = submit(emu.client("bob").sites["rennes"], "nodes=1")
    with pytest.raises(grid5000.Grid5000DeleteError) as err:
        rennes.jobs[theirs.uid].delete()
    assert err.value.response_code == 403


def test_fifo_waits_and_backfills(emu, rennes):
    first = submit(rennes, "{cluster='paravance'}/nodes=3,walltime=2:00")
    second = submit(rennes, "{cluster='paravance'}/nodes=4,walltime=1:00")
    small = submit(rennes, "{cluster='paravance'}/nodes=1,walltime=1:00")
    run(emu, first, second, small)
    assert first.state == "running" and second.state == "waiting"
    assert second.scheduled_at == first.started_at + 7200
    assert small.state == "running"  # backfilled: it ends before `second` can start
    run(emu, first, second, small, seconds=7200)
    assert first.state == "terminated" and second.state in ("launching", "running")
    assert second.started_at == first.started_at + 7200


def test_advance_reservation_and_hint(emu, rennes):
    start = MONDAY_10H + 7200
    resa = rennes.jobs.create(
        {
            "resources": "{cluster='parasilo'}/nodes=4,walltime=1:00",
            "reservation": paris(start),
            "name": "resa",
        }
    )
    assert resa.state == "waiting" and resa.scheduled_at == int(start)
    assert "Reservation valid" in resa.message
    status = rennes.clusters["parasilo"].status.list().nodes
    assert status["parasilo-1.rennes.grid5000.fr"]["reservations"][0]["scheduled_at"] == int(start)
    # a batch job that would overlap waits until after the reservation
    batch = submit(rennes, "{cluster='parasilo'}/nodes=1,walltime=3:00")
    with pytest.raises(grid5000.Grid5000CreateError) as err:
        rennes.jobs.create(
            {
                "resources": "{cluster='parasilo'}/nodes=2,walltime=1:00",
                "reservation": paris(start + 1800),
                "command": "sleep 1",
            }
        )
    m = re.search(
        r"Reservation not valid --> KO \(This reservation could run at "
        r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\)",
        err.value.error_message,
    )
    assert err.value.response_code == 400 and m
    assert m.group(1) == paris(start + 3600)
    with pytest.raises(grid5000.Grid5000CreateError) as err:
        rennes.jobs.create({"resources": "nodes=1", "reservation": paris(MONDAY_10H - 86400)})
    assert "Reservation too old" in err.value.error_message
    run(emu, resa, batch)
    assert batch.state == "waiting" and batch.scheduled_at == int(start + 3600)
    run(emu, resa, batch, seconds=7200)
    assert resa.state == "running" and resa.started_at == int(start)
    run(emu, resa, batch, seconds=3600)
    assert resa.state == "terminated" and batch.state in ("launching", "running")


def test_night_jobs_wait_for_the_evening(emu, rennes):
    job = submit(rennes, "nodes=1,walltime=2:00", types=["night"])
    run(emu, job)
    assert job.state == "waiting"
    assert paris(job.scheduled_at) == "2030-01-07 19:00:00"


def test_besteffort_is_preempted(emu, rennes):
    be = submit(rennes, "{cluster='paravance'}/nodes=4", types=["besteffort"])
    run(emu, be)
    assert be.state == "running" and be.queue == "besteffort"
    normal = submit(rennes, "{cluster='paravance'}/nodes=2")
    run(emu, be, normal, seconds=1)
    assert normal.state == "launching"
    assert be.state == "error" and be.events[-1]["type"] == "BESTEFFORT_KILL"


def test_quotas_hold_jobs_back():
    with G5kEmulator(
        legacy_dataset(4, sites=["rennes"]), speed=0, backend="address", nodes_per_cluster=4, users={"alice": "a"}, quotas={"alice": 3}
    ) as emu:
        site = emu.client().sites["rennes"]
        with pytest.raises(grid5000.Grid5000CreateError) as err:
            submit(site, "nodes=4")
        assert "quota" in err.value.error_message
        one = submit(site, "nodes=2,walltime=1:00")
        two = submit(site, "nodes=2,walltime=1:00")
        run(emu, one, two)
        assert one.state == "running" and two.state == "waiting" and "Quota" in two.message
        run(emu, one, two, seconds=3600)
        assert one.state == "terminated" and two.state in ("launching", "running")


def test_walltime_change_and_dead_nodes(emu, rennes):
    job = submit(rennes, "{cluster='paravance'}/nodes=1,walltime=1:00")
    run(emu, job)
    job.walltime_change.create({"walltime": "+1:30"})
    job.refresh()
    assert job.walltime == 9000
    assert job.walltime_change.get().walltime == "2:30:00"
    emu.set_node_state("paravance-4.rennes.grid5000.fr", "dead")
    with pytest.raises(grid5000.Grid5000CreateError):
        submit(rennes, "{cluster='paravance'}/nodes=4")
    nodes = rennes.clusters["paravance"].status.list().nodes
    assert nodes["paravance-4.rennes.grid5000.fr"]["hard"] == "dead"


def test_big_clock_jump_replays_every_transition(emu, rennes):
    jobs = [submit(rennes, "{cluster='paravance'}/nodes=4,walltime=1:00") for _ in range(3)]
    run(emu, *jobs, seconds=4 * 3600)
    assert [j.state for j in jobs] == ["terminated"] * 3
    assert jobs[1].started_at == jobs[0].stopped_at and jobs[2].started_at == jobs[1].stopped_at


def test_pools_run_out_and_grouping_forms(emu, rennes):
    vlan_jobs = [submit(rennes, "{type='kavlan'}/vlan=1,walltime=1:00") for _ in range(7)]
    best = submit(rennes, "{cluster='parasilo'}/nodes=BEST")
    grouped = submit(rennes, "/cluster=1/nodes=3")
    run(emu, *vlan_jobs, best, grouped)
    assert [j.state for j in vlan_jobs[:6]] == ["running"] * 6
    assert vlan_jobs[6].state == "waiting"  # six routed vlans per site
    assert vlan_jobs[6].scheduled_at == vlan_jobs[0].started_at + 3600
    assert len(best.assigned_nodes) == 4 and best.assigned_nodes[0].startswith("parasilo-")
    assert len({n.split("-")[0] for n in grouped.assigned_nodes}) == 1
    site_status = rennes.status.list()
    assert sum(v["soft"] == "busy" for v in site_status.vlans.values()) == 6
