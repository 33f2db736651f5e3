import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enoslib.errors import EnosConfigError
from enoslib.infra.configuration import load_schema, seconds_to_walltime, validate, walltime_to_seconds
from enoslib.infra.enos_static import StaticConf

role = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=8)
# any text without whitespace (an address, alias or user is one word); no leading dash (ssh option)
word = st.text(st.characters(blacklist_categories=["Z", "C"]), min_size=1, max_size=20).filter(
    lambda w: not w.startswith("-") and not any(c.isspace() for c in w)
)
machine = st.fixed_dictionaries(
    {"roles": st.lists(role, min_size=1, max_size=3), "address": word},
    optional={
        "alias": word,
        "user": word,
        "port": st.integers(1, 65535),
        "extra": st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
    },
)
network = st.fixed_dictionaries(
    {"roles": st.lists(role, min_size=1, max_size=2),
     "cidr": st.builds(lambda a, p: f"10.{a}.0.0/{p}", st.integers(0, 255), st.integers(16, 30))},
    optional={"gateway": st.integers(1, 2)},
).map(lambda n: {**n, "gateway": n["cidr"].replace(".0/", f".{n['gateway']}/").split("/")[0]} if "gateway" in n else n)


@settings(max_examples=150, deadline=None)
@given(st.lists(machine, min_size=1, max_size=5), st.lists(network, max_size=3))
def test_round_trip(machines, networks):
    conf = StaticConf.from_settings()
    for m in machines:
        conf.add_machine(**m)
    for n in networks:
        conf.add_network(**n)
    conf.finalize()
    again = StaticConf.from_dictionary(conf.to_dict())
    assert again == conf
    assert again.to_dict() == conf.to_dict()
    assert [m.to_dict() for m in again.machines] == machines


def test_defaults_come_from_the_schema():
    conf = StaticConf.from_settings().add_machine(roles=["a"], address="h")
    assert conf.machines[0].extra == {} and conf.machines[0].port is None
    assert conf.networks == []
    assert conf.to_dict(defaults=True)["resources"]["networks"] == []
    # explicit default equals implicit default
    explicit = StaticConf.from_dictionary({"resources": {"machines": [{"roles": ["a"], "address": "h", "extra": {}}], "networks": []}})
    assert explicit == conf


@pytest.mark.parametrize(
    "data, path, rule",
    [
        ({}, "$", "required"),
        ([], "$", "type"),
        ({"resources": {"machines": []}}, "$.resources.machines", "minItems"),
        ({"resources": {"machines": [{"roles": ["a"]}]}}, "$.resources.machines[0]", "required"),
        ({"resources": {"machines": [{"roles": ["a"], "address": "h", "port": 0}]}}, "$.resources.machines[0].port", "minimum"),
        ({"resources": {"machines": [{"roles": ["a"], "address": "h", "prot": 22}]}}, "$.resources.machines[0].prot", "additionalProperties"),
        ({"resources": {"machines": [{"roles": ["a b"], "address": "h"}]}}, "$.resources.machines[0].roles[0]", "pattern"),
        ({"resources": {"machines": [{"roles": ["a"], "address": "h"}], "networks": [{"roles": ["n"], "cidr": "10.0.0.0/33"}]}},
         "$.resources.networks[0].cidr", "format"),
        ({"resources": {"machines": [{"roles": ["a"], "address": "h"}], "networks": [{"roles": ["n"], "cidr": "10.0.0.0/24", "start": "10.0.0.2"}]}},
         "$.resources.networks[0]", "dependentRequired"),
    ],
)
def test_errors_name_path_and_rule(data, path, rule):
    with pytest.raises(EnosConfigError) as info:
        StaticConf.from_dictionary(data)
    err = info.value
    assert err.path == path and err.rule == rule
    assert path in str(err) and rule in str(err) and str(err)


def test_builder_errors_are_immediate_and_point_at_the_item():
    conf = StaticConf.from_settings().add_machine(roles=["a"], address="h")
    with pytest.raises(EnosConfigError, match=r"\$\.resources\.machines\[1\]\.port.*type"):
        conf.add_machine(roles=["a"], address="h2", port="22")
    assert len(conf.machines) == 1  # nothing half-added
    with pytest.raises(EnosConfigError, match="did you mean 'port'"):
        conf.add_machine(roles=["a"], address="h2", prot=22)
    with pytest.raises(EnosConfigError, match=r"\$\.nope.*unknown field"):
        conf.set(nope=1)
    with pytest.raises(AttributeError, match="no field 'nope'"):
        conf.nope


def test_finalize_catches_missing_machines():
    with pytest.raises(EnosConfigError, match=r"\$: 'resources' is a required property"):
        StaticConf.from_settings().finalize()


def test_walltime_any_length():
    assert walltime_to_seconds("1:00:00") == 3600
    assert walltime_to_seconds("123:30:15") == 123 * 3600 + 30 * 60 + 15
    assert seconds_to_walltime(walltime_to_seconds("100:05:00")) == "100:05:00"
    for bad in ("1:60:00", "1:00", "a:00:00", "-1:00:00"):
        with pytest.raises(ValueError, match="walltime"):
            walltime_to_seconds(bad)


def test_format_checkers_for_walltime_and_dates():
    schema = load_schema("static")  # formats are checked by every schema's validator
    assert schema["title"]
    import jsonschema

    from enoslib.infra.configuration import _format_checker

    checker = _format_checker()
    assert checker.conforms("240:00:00", "walltime")
    assert not checker.conforms("24h", "walltime")
    assert checker.conforms("2026-11-23 10:00:00", "reservation-date")
    assert not checker.conforms("2026-13-23 10:00:00", "reservation-date")
    assert not checker.conforms("2026-11-23T10:00", "reservation-date")
    assert isinstance(checker, jsonschema.FormatChecker)


def test_unknown_schema():
    with pytest.raises(EnosConfigError, match="no schema named 'nope'.*static"):
        validate("nope", {})
