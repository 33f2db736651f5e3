"""execo_g5k.planning's API over synthetic plannings (exact answers), and over the G5k emulator."""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enoslib.errors import EnosMissingExtraError
from enoslib.planning import (
    Topology,
    compute_slots,
    distribute_hosts,
    find_first_slot,
    find_free_slot,
    find_max_slot,
    make_planning,
    max_resources,
    text_gantt,
    text_slots,
)


def fqdn(cluster, i, site):
    return f"{cluster}-{i}.{site}.grid5000.fr"


def two_sites():
    busy = {
        "rennes": {
            "paravance": {fqdn("paravance", 1, "rennes"): [(0, 100)], fqdn("paravance", 2, "rennes"): [(50, 300)],
                          fqdn("paravance", 3, "rennes"): []},
            "parasilo": {fqdn("parasilo", 1, "rennes"): [(0, 1000)]},
        },
        "nancy": {"grisou": {fqdn("grisou", 1, "nancy"): [(200, 260)], fqdn("grisou", 2, "nancy"): []}},
    }
    return make_planning(busy, 0, 1000)


def test_make_planning_merges_clips_and_fills_free():
    p = make_planning({"s": {"c": {"h": [(50, 80), (-10, 10), (70, 120), (990, 2000)]}}}, 0, 1000)
    assert p["s"]["c"]["h"] == {"busy": [(0, 10), (50, 120), (990, 1000)], "free": [(10, 50), (120, 990)]}


def test_compute_slots_counts_per_element():
    slots = compute_slots(two_sites(), 100)
    first = slots[0]
    assert first.start == 0 and first.end == 100
    assert first.resources == {"grid5000": 3, "rennes": 1, "nancy": 2, "paravance": 1, "parasilo": 0, "grisou": 2}
    by_start = {s.start: s.resources for s in slots}
    assert list(by_start) == [0, 50, 100, 200, 260, 300]  # the breakpoints, not a time step
    # at 100: paravance-1 (free from 100) and -3; at 200 grisou-1 is busy
    assert by_start[100]["paravance"] == 2 and by_start[100]["grisou"] == 2 and by_start[200]["grisou"] == 1
    assert max_resources(two_sites()) == {"grid5000": 6, "rennes": 4, "paravance": 3, "parasilo": 1,
                                          "nancy": 2, "grisou": 2}


def test_find_slots():
    slots = compute_slots(two_sites(), 100)
    assert find_free_slot(slots, {"paravance": 3}).start == 300
    assert find_free_slot(slots, {"paravance": 2, "nancy": 2}).start == 100
    assert find_free_slot(slots, {"parasilo": 1}) == (None, None, None)
    assert find_first_slot(slots, {"parasilo": 1, "grisou": 1}).start == 0
    assert find_first_slot(slots, {"parasilo": 1}) == (None, None, None)
    best = find_max_slot(slots, {"grid5000": 0})
    assert best.start == 300 and best.resources["grid5000"] == 5
    # a cluster's hosts come on top of its site's when both are wanted (execo's rule)
    assert find_free_slot(slots, {"rennes": 1, "paravance": 2}).start == 300
    start, end, free = find_free_slot(slots, {"grisou": 2})
    assert (start, end) == (0, 100) and free["grisou"] == 2
    start, _, _ = find_free_slot(compute_slots(two_sites(), 250), {"grisou": 2})
    assert start == 260  # grisou-1 is busy during [200, 260)


def test_excluded_elements_and_hosts():
    slots = compute_slots(two_sites(), 100, excluded_elements=["nancy", "paravance-3"], include_hosts=True)
    assert "nancy" not in slots[0].resources
    assert slots[0].resources[fqdn("paravance", 1, "rennes")] == 0
    assert fqdn("paravance", 3, "rennes") not in slots[0].resources
    assert find_free_slot(slots, {"paravance": 2}).start == 300


def test_walltime_formats_and_errors():
    assert compute_slots(two_sites(), "0:01:40")[0].end == 100
    with pytest.raises(ValueError):
        compute_slots(two_sites(), 0)


def test_vlans_one_site_and_global_vlans_on_several():
    one = make_planning({"rennes": {"c": {"h": []}, "vlans": {"kavlan-4": [(0, 500)], "kavlan-5": [(0, 100)],
                                                              "kavlan-16": []}}}, 0, 1000)
    slots = compute_slots(one, 100)
    assert slots[0].resources["kavlan"] == 0  # the global vlan 16 does not count on one site
    assert find_free_slot(slots, {"c": 1, "kavlan": 1}).start == 100
    many = make_planning({"rennes": {"c": {"h": []}, "vlans": {"kavlan-16": [(0, 300)]}},
                          "nancy": {"d": {"g": []}, "vlans": {"kavlan-17": []}}}, 0, 1000)
    slots = compute_slots(many, 100)
    assert slots[0].resources["kavlan"] == ["nancy"]
    wanted = {"grid5000": 2, "kavlan": True}
    start, _, _ = find_free_slot(slots, wanted)
    assert start == 0 and wanted["kavlan"] == ["nancy"]  # written back, as execo does


@st.composite
def plannings(draw):
    clusters = {}
    for c in range(draw(st.integers(1, 2))):
        hosts = {}
        for h in range(draw(st.integers(1, 4))):
            periods = []
            for _ in range(draw(st.integers(0, 3))):
                s = draw(st.integers(0, 180))
                periods.append((s, s + draw(st.integers(1, 60))))
            hosts[f"c{c}-{h + 1}.s.grid5000.fr"] = periods
        clusters[f"c{c}"] = hosts
    walltime = draw(st.integers(1, 50))
    wanted = draw(st.integers(1, 4))
    return clusters, walltime, wanted


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plannings())
def test_find_free_slot_is_exact_against_brute_force(case):
    clusters, walltime, wanted = case
    end = 300
    planning = make_planning({"s": clusters}, 0, end)

    def free_hosts(t):
        return sum(1 for hosts in clusters.values() for periods in hosts.values()
                   if all(not any(s <= u < e for s, e in periods) for u in range(t, t + walltime)))

    candidates = range(end - walltime + 1)
    expected = next((t for t in candidates if free_hosts(t) >= wanted), None)
    slot = find_free_slot(compute_slots(planning, walltime), {"s": wanted})
    assert slot[0] == expected
    most = max((free_hosts(t) for t in candidates), default=0)
    best = find_max_slot(compute_slots(planning, walltime), {"grid5000": 0})
    assert (best[2]["grid5000"] if best[0] is not None else 0) == most


def test_distribute_hosts():
    topo = Topology({"rennes": {"paravance": ["p1", "p2", "p3"], "parasilo": ["q1"]},
                     "nancy": {"grisou": ["g1", "g2", "g3", "g4"]}, "lyon": {"nova": ["n1"]}})
    available = {"grid5000": 9, "rennes": 4, "paravance": 3, "parasilo": 1, "nancy": 4, "grisou": 4, "lyon": 1,
                 "nova": 1, "kavlan": ["nancy"]}
    before = dict(available)
    out = distribute_hosts(available, {"paravance": 2, "grid5000": 5}, topology=topo)
    assert out == {"paravance": 2, "rennes": 2, "nancy": 2, "lyon": 1}
    assert available == before  # not modified (execo's is)
    assert distribute_hosts(available, {"grisou": 0}, topology=topo) == {"grisou": 4}  # 0: all of them
    assert distribute_hosts(available, {"grid5000": 0}, excluded_elements=["nancy", "parasilo"], topology=topo) \
        == {"rennes": 3, "lyon": 1}
    assert distribute_hosts(available, {"nancy": 4, "kavlan": 1}, ratio=0.5, topology=topo) \
        == {"nancy": 2, "kavlan": ["nancy"]}
    slot = find_free_slot(compute_slots(two_sites(), 100), {"grid5000": 3})
    # the slot carries its topology; rennes has 1 free host at 0, nancy 2
    assert distribute_hosts(slot.resources, {"grid5000": 3}) == {"rennes": 1, "nancy": 2}
    with pytest.raises(ValueError, match="topology"):
        distribute_hosts({"grid5000": 1}, {"grid5000": 1})


def test_get_jobs_specs_offline():
    from enoslib.planning import get_jobs_specs

    topo = Topology({"rennes": {"paravance": ["paravance-1.rennes.grid5000.fr", "paravance-2.rennes.grid5000.fr"],
                                "parasilo": ["parasilo-1.rennes.grid5000.fr"]},
                     "nancy": {"grisou": ["grisou-1.nancy.grid5000.fr"]}})
    specs = get_jobs_specs({"paravance": 1, "nancy": 1, "parasilo-1.rennes.grid5000.fr": 1, "kavlan": ["nancy"]},
                           excluded_elements=["paravance-2.rennes.grid5000.fr"], name="exp", topology=topo)
    by_site = {site: spec for spec, site in specs}
    assert by_site["rennes"].resources == (
        "{host IN ('parasilo-1.rennes.grid5000.fr')}/nodes=1+"
        "{cluster='paravance' AND host NOT IN ('paravance-2.rennes.grid5000.fr')}/nodes=1")
    assert by_site["nancy"].resources == "nodes=1+{type='kavlan-global'}/vlan=1"
    assert by_site["nancy"].name == "exp"
    single = get_jobs_specs({"grisou": 1, "kavlan": 2}, topology=topo)
    assert single[0][0].resources == "{cluster='grisou'}/nodes=1+{type='kavlan'}/vlan=1"


def test_text_renderings():
    planning = two_sites()
    gantt = text_gantt(planning, width=60)
    assert "paravance-1 |" in gantt and "grisou-2" in gantt
    line = next(x for x in gantt.splitlines() if x.startswith("parasilo-1"))
    assert "#" not in line  # busy all along
    table = text_slots(compute_slots(planning, 100), ["paravance", "grisou"])
    assert table.splitlines()[0].split() == ["start", "end", "paravance", "grisou"]
    assert table.splitlines()[1].split() == ["0", "100", "1", "2"]


def test_draw_gantt_and_slots(tmp_path):
    pytest.importorskip("matplotlib")
    from enoslib.planning import draw_gantt, draw_slots

    planning = two_sites()
    fig = draw_gantt(planning, outfile=str(tmp_path / "gantt.png"))
    assert (tmp_path / "gantt.png").stat().st_size > 1000 and len(fig.axes) == 2
    fig = draw_slots(compute_slots(planning, 100), outfile=str(tmp_path / "slots.png"))
    assert (tmp_path / "slots.png").stat().st_size > 1000
    epochs = make_planning({"s": {"c": {"h": [(1.7e9, 1.7e9 + 3600)]}}}, 1.7e9, 1.7e9 + 86400)
    draw_gantt(epochs, save=False)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    from enoslib.planning import draw_gantt

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(EnosMissingExtraError, match=r"enoslib\[plot\]") as err:
        draw_gantt(two_sites())
    assert err.value.module == "matplotlib" and err.value.extra == "plot"


def test_importing_planning_loads_neither_grid5000_nor_matplotlib():
    import subprocess

    code = ("import sys, enoslib.planning; "
            "print(any(m.split('.')[0] in ('grid5000', 'matplotlib') or m.startswith('enoslib.infra.enos_g5k') "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- Grid'5000 emulator ---------------------------------------------------------------------------

def _g5k_available():
    try:
        import grid5000  # noqa: F401

        from enoslib.emulators.g5k import G5kEmulator, legacy_dataset  # noqa: F401
        from enoslib.infra.enos_g5k.client import G5kClient  # noqa: F401
    except Exception:  # noqa: BLE001
        return False
    return True


@pytest.mark.skipif(not _g5k_available(), reason="G5k emulator or python-grid5000 missing")
def test_get_planning_from_the_emulator(tmp_path):
    from enoslib.config import config_context
    from enoslib.emulators.g5k import G5kEmulator, legacy_dataset
    from enoslib.g5k import oarsub
    from enoslib.infra.enos_g5k import oar
    from enoslib.infra.enos_g5k.client import G5kClient, reset_api
    from enoslib.planning import get_hosts_jobs, get_jobs_specs, get_planning

    with config_context(cache_dir=str(tmp_path), display="noop"), \
            G5kEmulator(legacy_dataset(3), speed=0, backend="address", nodes_per_cluster=3) as emu:
        client = G5kClient(emu.uri, emu.username, emu.password, sleep=emu.advance, now=emu.clock.now)
        now = emu.clock.now()
        job = oar.submit(client, oar.JobSpec(site="rennes", resources="{cluster='paravance'}/nodes=2+"
                                             "{type='kavlan'}/vlan=1", walltime="1:00:00", name="other",
                                             reservation=oar.to_oar_date(now + 600)))
        start = int(job["scheduled_at"])
        emu.advance(700)  # running: the API shows a job's vlans only once it runs
        now = emu.clock.now()
        planning = get_planning(["rennes"], vlan=True, subnet=True, client=client, starttime=now,
                                endtime=now + 86400)
        hosts = planning["rennes"]["paravance"]
        busy = [h for h, pl in hosts.items() if pl["busy"]]
        assert len(busy) == 2 and hosts[busy[0]]["busy"] == [(int(now), start + 3600 + 121)]
        assert any(pl["busy"] for pl in planning["rennes"]["vlans"].values())
        assert "subnets" in planning["rennes"]
        slots = compute_slots(planning, "1:00:00")
        # 3 paravance nodes: 1 now, all 3 once the other job ends (plus OAR's margin)
        assert find_free_slot(slots, {"paravance": 1}).start == int(now)
        late = find_free_slot(slots, {"paravance": 3})
        assert late.start == start + 3600 + 121
        specs = get_jobs_specs(distribute_hosts(late.resources, {"paravance": 3}), name="mine")
        assert [site for _, site in specs] == ["rennes"]
        spec = specs[0][0]
        spec.walltime, spec.reservation_date = "2:00:00", late.start
        [(job_id, _)] = oarsub([(spec, "rennes")], client=client)
        assert job_id is not None
        planning = get_planning(["paravance"], client=client, starttime=now, endtime=now + 86400)
        assert list(planning) == ["rennes"] and list(planning["rennes"]) == ["paravance"]
        specs = get_hosts_jobs(["paravance-1"], "1:00:00", client=client)
        assert specs and "paravance-1.rennes.grid5000.fr" in specs[0][0].resources
    reset_api()
