import os
import signal
import threading

import pytest

import enoslib as en
from enoslib.errors import EnosConfigError
from enoslib.infra.provider import ImmediateProvider, Provider
from enoslib.infra.enos_static import Static, StaticConf

CONF = {"resources": {"machines": [{"roles": ["a"], "address": "10.0.0.1"}, {"roles": ["a", "b"], "address": "10.0.0.2"}]}}


class Recording(ImmediateProvider):
    """A provider over an in-memory 'testbed': records what is reserved and released."""

    configuration_class = StaticConf
    ledger: list = []

    def __init__(self, conf, fail_after=None, interrupt=False):
        super().__init__(conf)
        self.fail_after, self.interrupt = fail_after, interrupt
        self.held = []

    def init(self, force_deploy=False, start_time=None, **kwargs):
        for i, m in enumerate(self.provider_conf.machines):
            if self.fail_after is not None and i == self.fail_after:
                if self.interrupt:
                    raise KeyboardInterrupt
                raise RuntimeError("testbed refused")
            self.held.append(m.address)
            self.ledger.append(("reserve", m.address))
        return Static(self.provider_conf).init()

    def destroy(self, wait=False, **kwargs):
        for a in self.held:
            self.ledger.append(("release", a))
        self.held = []

    def is_created(self):
        return bool(self.held)


@pytest.fixture(autouse=True)
def clean_ledger():
    Recording.ledger = []


def test_abstract_methods_are_enforced():
    class Incomplete(Provider):
        configuration_class = StaticConf

    with pytest.raises(TypeError, match="abstract"):
        Incomplete(CONF)


def test_static_provider():
    with Static(StaticConf.from_dictionary(CONF)) as (roles, networks):
        assert [h.address for h in roles["a"]] == ["10.0.0.1", "10.0.0.2"]
        assert [h.address for h in roles["b"]] == ["10.0.0.2"]
        assert len(networks) == 0
    p = Static(CONF)
    p.init()
    assert p.is_created()
    p.destroy()
    p.destroy()
    assert not p.is_created()
    assert p.test_slot(0, 10)
    window = p.availability(0, 100)
    assert window.total() == 100


def test_bad_conf_fails_before_anything_is_reserved():
    with pytest.raises(EnosConfigError, match=r"\$\.resources\.machines\[0\]\.address"):
        Recording({"resources": {"machines": [{"roles": ["a"], "address": 3}]}})
    with pytest.raises(EnosConfigError, match="needs a StaticConf"):
        Static("nope")
    assert Recording.ledger == []


def test_released_on_exception_in_body():
    with pytest.raises(ValueError):
        with Recording(CONF):
            raise ValueError("experiment bug")
    assert Recording.ledger == [("reserve", "10.0.0.1"), ("reserve", "10.0.0.2"),
                                ("release", "10.0.0.1"), ("release", "10.0.0.2")]


def test_released_on_failure_inside_init():
    with pytest.raises(RuntimeError, match="refused"):
        with Recording(CONF, fail_after=1):
            pass
    assert Recording.ledger == [("reserve", "10.0.0.1"), ("release", "10.0.0.1")]


def test_released_on_ctrl_c_inside_init():
    with pytest.raises(KeyboardInterrupt):
        with Recording(CONF, fail_after=1, interrupt=True):
            pass
    assert Recording.ledger == [("reserve", "10.0.0.1"), ("release", "10.0.0.1")]


def test_released_on_real_sigint_in_body():
    with pytest.raises(KeyboardInterrupt):
        with Recording(CONF):
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(5)  # interrupted by the signal
    assert ("release", "10.0.0.2") in Recording.ledger


def test_second_ctrl_c_during_release_is_deferred():
    class SlowRelease(Recording):
        def destroy(self, wait=False, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)  # user hits Ctrl-C again while we release
            super().destroy()

    with pytest.raises(KeyboardInterrupt):
        with SlowRelease(CONF):
            pass
    assert Recording.ledger[-2:] == [("release", "10.0.0.1"), ("release", "10.0.0.2")]


def test_facade_exposes_static():
    assert en.Static is Static and en.StaticConf is StaticConf
