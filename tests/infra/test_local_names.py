"""Local experiment names: one experiment's crash cleanup never touches another's lab."""

import os

import pytest

import enoslib as en
from enoslib.errors import EnosConfigError
from enoslib.nodes import NamespaceLab
from enoslib.nodes._types import LabError


def _conf(name: str, cidr: str) -> en.LocalConf:
    return (
        en.LocalConf.from_settings(name=name)
        .add_network(id="n1", roles=["lan"], cidr=cidr)
        .add_machine(roles=["srv"], number=1)
    )


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")
def test_a_name_ending_with_a_dash_never_destroys_another_lab():
    """`rpx-` used to be taken as the prefix of `rpx-a` by crash cleanup, destroying it."""
    other = en.Local(_conf("rpx-a", "10.73.0.0/24"))
    try:
        roles, _ = other.init()
        before = NamespaceLab.leftovers("rpx-a")
        assert before
        try:
            en.Local(_conf("rpx-", "10.74.0.0/24")).init()
        except EnosConfigError as e:
            assert e.path == "$.name"
        # the lab of the other experiment is untouched and still answers
        assert NamespaceLab.leftovers("rpx-a") == before
        assert [r.stdout for r in en.run_command("hostname", roles=roles)] == ["srv-1"]
        # the lab layer agrees: a name is a name, never a prefix
        with pytest.raises(LabError):
            NamespaceLab.cleanup_all("rpx-")
        assert NamespaceLab.leftovers("rpx-a") == before
    finally:
        other.destroy()
        NamespaceLab.cleanup_all("rpx-a")
    assert NamespaceLab.leftovers("rpx-a") == []
