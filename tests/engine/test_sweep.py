"""sweep syntax, HashableDict, geom/igeom, stats, and ParamSweeper in one process."""

from __future__ import annotations

import json

import pytest

from enoslib.engine import HashableDict, ParamSweeper, geom, igeom, pretty_stats, sweep, sweep_stats
from enoslib.engine.sweeper import decode_combination, encode_combination


def test_cartesian_product_first_factor_slowest():
    assert sweep({"a": ["x", "y"], "b": [1, 2]}) == [
        {"a": "x", "b": 1}, {"a": "x", "b": 2}, {"a": "y", "b": 1}, {"a": "y", "b": 2}]


def test_empty_levels_drop_the_factor_and_empty_sweep_is_one_empty_combination():
    assert sweep({"a": [1, 2], "b": []}) == [{"a": 1}, {"a": 2}]
    assert sweep({}) == [{}]


def test_nested_dict_levels_sweep_subfactors_only_for_their_level():
    combos = sweep({
        "p1": ["a", "b"],
        "p2": {1: {"p11": ["x", "y"], "p12": [0.0, 1.0]}, 2: {"p21": [-10, 10]}},
    })
    assert len(combos) == 2 * (4 + 2)
    assert {"p1": "a", "p2": 2, "p21": -10} in combos
    assert all(("p21" in c) == (c["p2"] == 2) for c in combos)
    assert all(("p11" in c and "p12" in c) == (c["p2"] == 1) for c in combos)
    # deeper nesting, and a level with no sub-factors
    deep = sweep({"net": {"lan": None, "wan": {"delay": {"low": {"jitter": [0, 1]}, "high": {}}}}})
    assert deep == [{"net": "lan"}, {"net": "wan", "delay": "low", "jitter": 0},
                    {"net": "wan", "delay": "low", "jitter": 1}, {"net": "wan", "delay": "high"}]


def test_combinations_are_hashable_dicts_usable_as_keys():
    combos = sweep({"a": [1, 2], "b": ["u"]})
    assert all(type(c) is HashableDict for c in combos)
    table = {c: i for i, c in enumerate(combos)}
    assert table[HashableDict(b="u", a=2)] == 1
    assert len(set(sweep({"a": [1, 1, 2]}))) == 2


def test_levels_must_be_lists():
    with pytest.raises(TypeError, match="factor 'a'"):
        sweep({"a": "abc"})
    with pytest.raises(TypeError, match="factor 'n'"):
        sweep({"n": 3})


def test_geom_and_igeom():
    assert geom(1, 1000, 4) == pytest.approx([1.0, 10.0, 100.0, 1000.0])
    assert geom(1, 8, 0) == [] and geom(3, 8, 1) == [3.0]
    assert igeom(1, 100, 5) == [1, 3, 10, 32, 100]
    assert igeom(1, 4, 10) == [1, 2, 3, 4]


def test_json_codec_round_trips_what_sweeps_contain():
    values = [HashableDict(a=1, b=(1, "x"), c=None, d=2.5, e=True, f=frozenset({1, 2})),
              HashableDict({1: "int key", "__tuple__": 3}), ("t", 1), "plain", 7]
    for v in values:
        back = decode_combination(json.loads(json.dumps(encode_combination(v))))
        assert back == v and hash(back) == hash(v) and type(back) is type(v)
    with pytest.raises(TypeError, match="cannot store object"):
        encode_combination(HashableDict(a=object()))


def test_sweeper_lifecycle_and_deterministic_order(tmp_path):
    combos = sweep({"n": [1, 2, 3], "m": ["a", "b"]})
    s = ParamSweeper(tmp_path / "s", combos, save_sweeps=True, name="t")
    assert list(s.get_remaining()) == combos
    first, second = s.get_next(), s.get_next()
    assert [first, second] == combos[:2]
    assert s.get_inprogress() == {first, second}
    s.done(first)
    s.skip(second)
    third = s.get_next(lambda remaining: [c for c in remaining if c["m"] == "b"])
    assert third == combos[3]
    s.cancel(third)
    assert str(s) == "t <6 total, 1 done, 1 skipped, 0 in progress, 4 remaining>"
    assert list(s.get_remaining()) == [combos[2], combos[3], combos[4], combos[5]]
    # state on disk is plain text
    assert json.loads((tmp_path / "s" / "done.jsonl").read_text()) == {"n": 1, "m": "a"}
    assert json.loads((tmp_path / "s" / "inprogress.json").read_text())["inprogress"] == []
    # a new instance (sweeps loaded from disk) sees done, not this instance's skipped
    other = ParamSweeper(tmp_path / "s")
    assert list(other.get_sweeps()) == combos and other.get_done() == {first}
    assert second in other.get_remaining()
    s.reset()
    assert second in s.get_remaining() and len(s.get_skipped()) == 0
    batch = s.get_next_batch(10)
    assert batch == combos[1:]
    s.done_batch(batch)
    assert s.get_next() is None and len(s.get_done()) == 6
    other.update()
    assert len(other.get_remaining()) == 0


def test_stats_and_pretty_stats(tmp_path):
    s = ParamSweeper(tmp_path, sweep({"algo": ["reno", "cubic"], "n": [1, 2]}))
    s.done(s.get_next())
    c = s.get_next()
    stats = sweep_stats(s.stats())
    assert stats["total"]["algo"] == {"reno": 2, "cubic": 2}
    assert stats["done"]["algo"] == {"reno": 1} and stats["done_ratio"]["algo"]["reno"] == 0.5
    assert stats["inprogress"]["n"] == {c["n"]: 1}
    text = s.pretty_stats()
    assert text == pretty_stats(s.stats())
    lines = text.splitlines()
    assert lines[0].split() == ["factor", "level", "total", "done", "inprogress", "skipped", "remaining", "done", "%"]
    assert lines[2].split() == ["(all)", "4", "1", "1", "0", "2", "25%"]
    assert any(line.split()[:3] == ["algo", "'reno'", "2"] for line in lines)


def test_sweeper_rejects_unhashable_and_missing_saved_sweeps(tmp_path):
    with pytest.raises(TypeError, match="element 1 .*HashableDict"):
        ParamSweeper(tmp_path / "a", [HashableDict(a=1), {"a": 2}])
    with pytest.raises(FileNotFoundError, match="sweeps.json"):
        ParamSweeper(tmp_path / "b")


def test_execo_docs_argument_order_is_accepted(tmp_path):
    s = ParamSweeper(sweep({"a": [1]}), str(tmp_path / "x"))
    assert s.get_next() == {"a": 1}


def test_torn_last_line_of_done_is_dropped(tmp_path):
    s = ParamSweeper(tmp_path, sweep({"a": [1, 2, 3]}))
    s.done(s.get_next())
    with open(tmp_path / "done.jsonl", "a") as f:
        f.write('{"a": 2')  # a writer killed mid-line
    fresh = ParamSweeper(tmp_path, sweep({"a": [1, 2, 3]}))
    assert fresh.get_done() == {HashableDict(a=1)}
    assert fresh.get_next() == {"a": 2}
    fresh.done(HashableDict(a=2))
    assert (tmp_path / "done.jsonl").read_text().splitlines() == ['{"a": 1}', '{"a": 2}']


def test_threads_sharing_instances_take_each_combination_once(tmp_path):
    import threading

    combos = sweep({"i": list(range(60))})
    shared = ParamSweeper(tmp_path, combos)
    other = ParamSweeper(tmp_path, combos)
    taken, lock = [], threading.Lock()

    def work(s):
        while (c := s.get_next()) is not None:
            with lock:
                taken.append(c["i"])
            s.done(c)

    threads = [threading.Thread(target=work, args=(s,)) for s in (shared, shared, shared, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == list(range(60))
    assert len(ParamSweeper(tmp_path, combos).get_done()) == 60


def test_hashable_dict_copies_and_mutation():
    import copy
    import pickle

    h = HashableDict(a=1)
    before = hash(h)
    h["b"] = (1, 2)
    assert hash(h) != before and hash(h) == hash(HashableDict(b=(1, 2), a=1))
    for clone in (copy.copy(h), copy.deepcopy(h), pickle.loads(pickle.dumps(h))):
        assert type(clone) is HashableDict and clone == h and hash(clone) == hash(h)
    assert json.loads(json.dumps(h)) == {"a": 1, "b": [1, 2]}


def test_a_done_combination_left_in_progress_by_a_crash_is_cleaned(tmp_path):
    combos = sweep({"a": [1, 2]})
    s = ParamSweeper(tmp_path, combos)
    c = s.get_next()
    stale = (tmp_path / "inprogress.json").read_text()
    s.done(c)
    (tmp_path / "inprogress.json").write_text(stale)  # as if killed between the two writes of done()
    fresh = ParamSweeper(tmp_path, combos)
    assert not fresh.get_inprogress() and fresh.get_done() == {c}
    assert json.loads((tmp_path / "inprogress.json").read_text())["inprogress"] == []
