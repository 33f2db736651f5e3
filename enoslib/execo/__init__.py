"""execo's process API (``execo``), on enoslib's shared, multiplexed SSH connections.

>>> from enoslib.execo import Remote, Put, Report, Host
>>> hosts = [Host("10.0.0.1", user="root"), Host("10.0.0.2", user="root")]
>>> ping = Remote("ping -c 1 {{targets}}", hosts).run()   # targets: a list in the caller's scope
>>> Put(hosts, ["data.csv"], "/tmp/{{{host}}}/", create_dirs=True).run()
>>> print(Report([ping]).to_string())

Processes (:mod:`.process`): :class:`Process`, :class:`SshProcess`; actions (:mod:`.action`):
:class:`Remote`, :class:`Put`, :class:`Get`, :class:`ChainPut`, :class:`TaktukRemote`,
:class:`TaktukPut`, :class:`TaktukGet`, :class:`Local`, :class:`ParallelActions`,
:class:`SequentialActions`; serial ports and port forwarding (:mod:`.ports`);
:class:`Report`; substitutions (:mod:`.substitutions`);
settings (:mod:`.config`: ``configuration``, ``default_connection_params``, read from
``~/.execo.conf.py`` when present).
"""

from enoslib.execo.action import (Action, ActionLifecycleHandler, ChainPut, Get, Local,
                                  ParallelActions, Put, Remote, SequentialActions, TaktukGet,
                                  TaktukPut, TaktukRemote, get_fileget, get_fileput, get_remote,
                                  wait_all_actions, wait_any_actions)
from enoslib.execo.config import (CHAINPUT, SCP, SSH, STDERR, STDOUT, TAKTUK, configuration,
                                  default_connection_params, load_configuration,
                                  make_connection_params)
from enoslib.execo.host import Host, get_hosts_list, get_hosts_set
from enoslib.execo.process import (Process, ProcessBase, ProcessLifecycleHandler,
                                   ProcessOutputHandler, SshProcess, get_process)
from enoslib.execo.ports import PortForwarder, RemoteSerial, Serial, SerialSsh
from enoslib.execo.report import Report
from enoslib.execo.substitutions import get_caller_context, remote_substitute
from enoslib.execo.time_utils import Timer, sleep

load_configuration()

__all__ = [
    "CHAINPUT", "SCP", "SSH", "STDERR", "STDOUT", "TAKTUK", "Action", "ActionLifecycleHandler",
    "ChainPut", "Get", "Host", "Local", "ParallelActions", "PortForwarder", "Process", "ProcessBase",
    "ProcessLifecycleHandler", "ProcessOutputHandler", "Put", "Remote", "RemoteSerial", "Report",
    "SequentialActions", "Serial", "SerialSsh", "SshProcess", "TaktukGet", "TaktukPut", "TaktukRemote", "Timer",
    "configuration", "default_connection_params", "get_caller_context", "get_fileget",
    "get_fileput", "get_hosts_list", "get_hosts_set", "get_process", "get_remote",
    "load_configuration", "make_connection_params", "remote_substitute", "sleep",
    "wait_all_actions", "wait_any_actions",
]
