"""Network emulation with ``tc``: delay, loss and rate on hosts' interfaces.

Two services, as experimenters know them from EnOSlib:

- :class:`Netem`: the same constraint on every selected interface (outgoing traffic; with
  ``symmetric=True`` incoming traffic too, through an ``ifb`` device).
- :class:`NetemHTB`: per-destination constraints (``a -> b: 20ms``), an HTB class and a
  netem qdisc per destination, selected by destination address.

>>> netem = NetemHTB()
>>> netem.add_constraints(src=roles["paris"], dest=roles["berlin"], delay="10ms", rate="1gbit", symmetric=True)
>>> netem.deploy(); print(netem.validate().table()); netem.destroy()

Underneath, EnOSlib's documented classes (module paths ``enoslib.service.emul.netem`` /
``.htb`` re-export them): a *source* is a host and the constraints of its devices,
:class:`NetemInOutSource` (:class:`NetemOutConstraint`/:class:`NetemInConstraint`:
``(device, options)``) or :class:`HTBSource` (:class:`HTBConstraint`: ``(device, delay,
target, rate="10gbit", loss=None)``); :func:`netem` and :func:`netem_htb` deploy lists of
sources, the services build theirs in ``sources``. :class:`AccurateNetemHTB` takes the
infrastructure's own latency off the delays it sets.

>>> source = HTBSource(host=roles["paris"][0])
>>> source.add_constraint(device="eth0", delay="10ms", target="10.0.0.3", rate="1gbit")
>>> netem_htb([source])

The package: :mod:`.constraints` (option strings, the documented classes and the ``tc``
commands they stand for), :mod:`.engines` (per-host scripts of both engines),
:mod:`.measure` (RTTs), :mod:`.services`. Commands are pure functions (every value
checked and quoted), run over the api's fast path, one script per host, all in parallel.

Engines (``engine=`` of both services): ``"tc"`` is the kernel's netem qdisc, as EnOSlib
does. ``"nfqueue"`` is for kernels built without ``sch_netem``: rates still with HTB, but
delay and loss by iptables rules (chains ``ENOS-NETEM-OUT``/``-IN`` of the mangle table,
hooked from POSTROUTING/PREROUTING) sending the packets to NFQUEUE queues, served by a small
userspace daemon (:mod:`enoslib.services.delayd`, shipped to the host and started in the
background; outgoing packets are copied, dropped and sent again after the delay, so that
TCP senders are not throttled by packets held on their behalf). ``"auto"`` (default)
decides per host: ``deploy`` first runs a small probe script on every host (can the kernel
add a netem qdisc to a throwaway ifb device?), then each host's deploy script for its
engine: two parallel rounds. Which engine each host used is in ``service.engines`` and in
the :class:`LatencyReport`. The nfqueue engine emulates delay (and jitter), loss and rate
(not duplicate, corrupt, reorder, correlations nor distributions), delays IP traffic only
(not ARP), and needs ``iptables-legacy`` (or an ``iptables`` with NFQUEUE) and
``/usr/bin/python3`` on the host.
"""
from enoslib.services.netem.constraints import (
    DEFAULT_LOSS,
    DEFAULT_RATE,
    HTBConstraint,
    HTBSource,
    NetemConstraint,
    NetemInConstraint,
    NetemInOutSource,
    NetemOutConstraint,
    check_netem_options,
    htb_commands,
    ifb_name,
    ifb_redirect_commands,
    ms,
    netem_commands,
    parse_netem_options,
    percent,
    reset_commands,
    script,
)
from enoslib.services.netem.engines import (
    ENGINE_MARK,
    ENGINES,
    QueuePlan,
    check_engine,
    delayd_source,
    engine_script,
    htb_nfqueue_commands,
    netem_nfqueue_commands,
    nfqueue_commands,
    nfqueue_params,
    parse_engines,
    probe_engines,
    probe_script,
    source_nfqueue_commands,
    teardown_script,
)
from enoslib.services.netem.measure import (
    FPING_FILE_SUFFIX,
    LatencyReport,
    fping_targets,
    measure_rtts,
    parse_fping,
    user_clock_ping_script,
)
from enoslib.services.netem.services import (
    AccurateNetemHTB,
    Netem,
    NetemHTB,
    htb_scripts,
    netem,
    netem_htb,
    netem_scripts,
)

__all__ = [
    "DEFAULT_LOSS", "DEFAULT_RATE", "ENGINES", "ENGINE_MARK", "FPING_FILE_SUFFIX", "AccurateNetemHTB",
    "HTBConstraint", "HTBSource", "LatencyReport", "Netem", "NetemConstraint", "NetemHTB", "NetemInConstraint",
    "NetemInOutSource", "NetemOutConstraint", "QueuePlan", "check_engine", "check_netem_options", "delayd_source",
    "engine_script", "fping_targets", "htb_commands", "htb_nfqueue_commands", "htb_scripts", "ifb_name",
    "ifb_redirect_commands", "measure_rtts", "ms", "netem", "netem_commands", "netem_htb", "netem_nfqueue_commands",
    "netem_scripts", "nfqueue_commands", "nfqueue_params", "parse_engines", "parse_fping", "parse_netem_options",
    "percent", "probe_engines", "probe_script", "reset_commands", "script", "source_nfqueue_commands",
    "teardown_script", "user_clock_ping_script",
]
