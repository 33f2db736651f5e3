"""Plain shell commands on many hosts: the fast path.

A command goes straight over each host's multiplexed SSH connection (``ssh host -- cmd``),
all hosts at once, without Ansible: on warm connections 50 hosts answer in a few tens of
milliseconds. Ansible is used only when asked for something only Ansible does
(``gather_facts=True``, shell-module arguments or task keywords in ``**kwargs``,
``engine="ansible"``).

>>> results = en.run_command("hostname", roles=roles["server"])
>>> en.run_command("iperf3 -s", roles=roles, pattern_hosts="server", background=True)
>>> en.run_command("ping -c1 {{ peer }}", roles=roles, timeout=5, on_error_continue=True)
"""

from __future__ import annotations

import logging
import os
import shlex
import time
from typing import Any, Mapping

from enoslib.api.hosts import RolesLike, get_hosts
from enoslib.api.proc import Job, run_jobs
from enoslib.api.results import Result, Results, dumps_results
from enoslib.api.ssh import connection, is_ssh_failure, is_transient
from enoslib.api.templating import substitute
from enoslib.config import get_config
from enoslib.objects import Host

log = logging.getLogger("enoslib.api.commands")

# the remote side kills a timed-out command itself (coreutils ``timeout`` kills the whole
# process group); we kill our local ssh only if the host does not answer this long after
_KILL_GRACE = 3.0
_RETRIES = 2  # for handshakes dropped by a busy sshd (MaxStartups)
# run_command's keyword arguments beyond its signature, as EnOSlib documents them: arguments
# of Ansible's shell module, or task keywords (see enoslib.api._actions.TASK_KEYWORDS).
# They ask for the Ansible engine; anything else is an error (a typo must not switch engines).
SHELL_ARGUMENTS = frozenset(
    {"creates", "removes", "executable", "stdin_add_newline", "strip_empty_ends", "asynch"}
)
# documented by EnOSlib, not provided here: refused by name rather than passed to Ansible
_UNSUPPORTED = frozenset({"inventory_path", "ns", "cgroup", "cgroup_prefix"})


def wrap(
    command: str,
    *,
    run_as: str | None = None,
    background: bool = False,
    timeout: float | None = None,
    chdir: str | None = None,
    environment: Mapping[str, Any] | None = None,
) -> str:
    """The remote command line for ``command`` with its options.

    Without options the command goes as is to the login shell (as ``ssh host cmd`` does);
    with options it runs under ``sh -c``. Every piece of data is shell-quoted.
    """
    script = command
    if environment:
        exports = []
        for key, value in environment.items():
            if not key.isidentifier():
                raise ValueError(f"invalid environment variable name {key!r}")
            exports.append(f"export {key}={shlex.quote(str(value))}; ")
        script = "".join(exports) + script
    if chdir:
        script = f"cd {shlex.quote(chdir)} || exit 1; {script}"
    if run_as:
        user = shlex.quote(run_as)
        quoted = shlex.quote(script)
        # sudo when present; root without sudo (minimal images) switches user with su
        script = (
            f"if command -v sudo >/dev/null 2>&1; then "
            f"exec sudo -n -H -u {user} -- sh -c {quoted}; "
            f'elif [ "$(id -u)" = 0 ]; then exec su -s /bin/sh -c {quoted} {user}; '
            f"else echo 'run_as needs sudo on the host' >&2; exit 126; fi"
        )
    if timeout:
        quoted = shlex.quote(script)
        t = f"{float(timeout):g}"
        script = (
            f"if command -v timeout >/dev/null 2>&1; then "
            f"exec timeout -k {_KILL_GRACE:g} {t} sh -c {quoted}; "
            f"else exec sh -c {quoted}; fi"
        )
    if background:
        # detached: no output kept, nothing left attached to the ssh channel
        script = f"nohup sh -c {shlex.quote(script)} >/dev/null 2>&1 </dev/null &"
    return script


def _to_result(job: Job, host: Host, task: str, command: str, timeout: float | None,
               strip: bool = True) -> Result:
    out, err = job.text("stdout"), job.text("stderr")
    payload: dict[str, Any] = {
        "cmd": command,
        "start": job.start,
        "end": job.end,
        "delta": round(job.duration, 6),
    }
    timed_out = job.timed_out or (timeout is not None and job.rc in (124, 137))
    if job.error or (not job.timed_out and is_ssh_failure(job.rc, err)):
        status = "unreachable"
        lines = err.strip().splitlines()
        payload["msg"] = job.error or (lines[-1] if lines else "ssh failed")
    elif timed_out:
        status = "failed"
        payload["timed_out"] = True
        payload["msg"] = f"timed out after {timeout:g} s" if timeout else "timed out"
        err = (err + ("\n" if err and not err.endswith("\n") else "") + payload["msg"]).lstrip("\n")
    elif job.rc == 0:
        status = "ok"
    else:
        status = "failed"
        payload["msg"] = f"non-zero return code {job.rc}"
    return Result(
        host=host.alias,
        task=task,
        status=status,  # type: ignore[arg-type]
        stdout=out.rstrip("\r\n") if strip else out,
        stderr=err.rstrip("\r\n") if strip else err,
        rc=None if status == "unreachable" else job.rc,
        changed=status != "unreachable",
        payload=payload,
        duration=job.duration,
    )


def exec_commands(
    commands: Mapping[Host, str],
    *,
    task: str,
    timeout: float | None = None,
    stdin: bytes | None = None,
    shown: Mapping[Host, str] | None = None,
    tty: bool = False,
) -> Results:
    """Run one ready-made remote command line per host, all in parallel; never raises for
    remote failures. ``shown`` is what results record as ``cmd`` (default: the command).
    ``tty``: on a terminal (``ssh -tt``, one output stream), the output as it came (Ansible's
    ``raw``); ssh's own input is a terminal too, as with ansible-core's ssh plugin (ssh passes
    its modes on: ``\\n`` written as ``\\r\\n``)."""
    local_timeout = None if timeout is None else timeout + _KILL_GRACE + 2
    terminals: list[int] = []

    def job(h: Host, argv: list[str]) -> Job:
        if not tty:
            return Job(argv, stdin=stdin, timeout=local_timeout, tag=h)
        import pty

        terminals.extend(pty.openpty())  # (controller side, ssh's side: a file descriptor)
        tty_in: Any = terminals[-1]
        return Job(argv, stdin=tty_in, timeout=local_timeout, tag=h)

    def argv(h: Host, cmd: str) -> list[str]:
        words = connection(h).argv(cmd)
        return [words[0], "-tt", *words[1:]] if tty else words

    try:
        jobs = {h: job(h, argv(h, cmd)) for h, cmd in commands.items()}
        run_jobs(jobs.values())
        for attempt in range(_RETRIES):
            again = [j for j in jobs.values() if is_transient(j.rc, j.text(), j.text("stderr"))]
            if not again:
                break
            time.sleep(0.2 * (attempt + 1))
            for j in again:
                jobs[j.tag] = job(j.tag, j.argv)
            run_jobs(jobs[j.tag] for j in again)
    finally:
        for fd in terminals:
            os.close(fd)
    shown = shown or commands
    return Results(_to_result(job, h, task, shown[h], timeout, strip=not tty)
                   for h, job in jobs.items())


@dumps_results
def run_command(
    command: str,
    roles: RolesLike | None = None,
    *,
    pattern_hosts: str = "all",
    run_as: str | None = None,
    background: bool = False,
    timeout: float | None = None,
    on_error_continue: bool = False,
    task_name: str | None = None,
    gather_facts: bool = False,
    extra_vars: Mapping[str, Any] | None = None,
    chdir: str | None = None,
    environment: Mapping[str, Any] | None = None,
    stdin: str | bytes | None = None,
    engine: str = "auto",
    **kwargs: Any,
) -> Results:
    """Run a shell command on hosts; one :class:`Result` per host.

    ``roles`` is Roles, a list of Hosts or one Host; ``pattern_hosts`` selects among them
    (``"server:&rack1:!server-2"``, see :func:`get_hosts`). ``{{{host}}}``, ``{{{alias}}}``
    and ``{{ var }}`` (host ``extra`` / ``extra_vars``) are substituted per host, values
    shell-quoted. ``run_as`` runs as another user (sudo), ``background`` starts the command
    detached and returns at once, ``timeout`` (seconds; default from config
    ``command_timeout``) kills it and marks it failed.

    Raises :class:`~enoslib.errors.EnosUnreachableHostsError` /
    :class:`~enoslib.errors.EnosFailedHostsError` (``err.results`` holds every host's
    result) unless ``on_error_continue``.

    ``stdin`` (text or bytes) is fed to the command, on either engine.

    ``kwargs``, as EnOSlib documents them: arguments of Ansible's ``shell`` module
    (``creates``, ``removes``, ``executable`` ...) or task keywords (``become``, ``when``,
    ``register``, ``ignore_errors`` ...); they ask for Ansible. Any other name raises
    TypeError before anything runs: a typo never changes the engine.

    ``engine``: ``"auto"`` (fast path unless ``gather_facts`` or ``kwargs`` ask for
    Ansible), ``"ssh"``, or ``"ansible"`` (the ``shell`` module, where ``{{ expression }}``
    is Ansible's Jinja with facts, its value shell-quoted as on the ssh engine unless
    ``| raw``). ``task_name`` is literal text on both engines.
    """
    if engine not in ("auto", "ssh", "ansible"):
        raise ValueError(f"engine must be 'auto', 'ssh' or 'ansible', not {engine!r}")
    timeout = timeout if timeout is not None else get_config().get("command_timeout")
    kwargs.pop("raw", None)  # EnOSlib's raw=True (no Python needed): the fast path never needs it
    _check_kwargs(kwargs)
    if stdin is not None and background:
        raise ValueError("run_command: a background command gets no stdin (it is detached)")
    task = task_name or command
    if engine == "auto" and not (gather_facts or kwargs):
        from enoslib.api._actions import ansible_vars_refusal

        # a LocalHost (ansible_connection: local), ansible_become ... only Ansible honours
        reason = ansible_vars_refusal(get_hosts(roles, pattern_hosts),  # type: ignore[arg-type]
                                      {}, extra_vars or {})
        if reason:
            log.debug("run_command through Ansible: %s", reason)
            engine = "ansible"
    if engine == "ansible" or (engine == "auto" and (gather_facts or kwargs)):
        from enoslib.api._actions import shell_with_ansible

        return shell_with_ansible(
            command,
            roles,
            pattern_hosts=pattern_hosts,
            run_as=run_as,
            background=background,
            timeout=timeout,
            on_error_continue=on_error_continue,
            task_name=task,
            gather_facts=gather_facts,
            extra_vars=extra_vars,
            chdir=chdir,
            environment=environment,
            stdin=stdin,
            **kwargs,
        )
    if kwargs:
        raise TypeError(f"unexpected argument(s) for the ssh engine: {', '.join(sorted(kwargs))}")
    hosts = get_hosts(roles, pattern_hosts)  # type: ignore[arg-type]
    log.debug("run_command %r on %d host(s)", task_name or "<command>", len(hosts))
    commands = {}
    for h in hosts:
        concrete = substitute(command, h, extra_vars)
        commands[h] = wrap(
            concrete,
            run_as=run_as,
            background=background,
            timeout=timeout,
            chdir=chdir,
            environment=environment,
        )
    data = stdin.encode() if isinstance(stdin, str) else stdin
    results = exec_commands(
        commands, task=task, timeout=timeout, stdin=data, shown=dict.fromkeys(hosts, command)
    )
    if not on_error_continue:
        results.raise_for_status()
    return results


def _check_kwargs(kwargs: Mapping[str, Any]) -> None:
    from enoslib.api._actions import TASK_KEYWORDS

    unsupported = sorted(set(kwargs) & _UNSUPPORTED)
    if unsupported:
        raise TypeError(
            f"run_command: {', '.join(unsupported)} not supported by this implementation"
        )
    unknown = sorted(set(kwargs) - SHELL_ARGUMENTS - TASK_KEYWORDS)
    if unknown:
        raise TypeError(
            f"run_command() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            "extra keyword arguments must be arguments of Ansible's shell module "
            f"({', '.join(sorted(SHELL_ARGUMENTS - {'asynch'}))}) or task keywords "
            "(register, when, become, loop, ...)"
        )


@dumps_results
def run_scripts(
    scripts: Mapping[Host, str],
    *,
    task_name: str = "script",
    timeout: float | None = None,
    on_error_continue: bool = False,
) -> Results:
    """Run a different shell script on each host, all hosts in parallel (fast path).

    For per-host work generated from data (e.g. each host's ``tc`` rules): the scripts are
    passed quoted to ``sh -c``, nothing is substituted. Raises like :func:`run_command`
    unless ``on_error_continue``.
    """
    commands = {h: wrap(f"sh -c {shlex.quote(s)}", timeout=timeout) for h, s in scripts.items()}
    results = exec_commands(commands, task=task_name, timeout=timeout, shown=dict(scripts))
    if not on_error_continue:
        results.raise_for_status()
    return results


def run(command: str, roles: RolesLike, **kwargs: Any) -> Results:
    """Shorthand for :func:`run_command` with ``roles`` positional."""
    return run_command(command, roles, **kwargs)


def wait_for(
    roles: RolesLike,
    retries: int = 100,
    interval: float = 30,
    *,
    pattern_hosts: str = "all",
    **_: Any,
) -> None:
    """Wait until every host answers over SSH.

    Tries every host, then retries the ones that did not answer with a backoff starting at
    one second and doubling up to ``interval`` seconds, at most ``retries`` times. Raises
    :class:`~enoslib.errors.EnosSSHNotReady` naming the hosts that never answered.
    """
    pending = get_hosts(roles, pattern_hosts)
    delay = min(1.0, interval)
    last = Results()
    for attempt in range(max(1, retries)):
        last = exec_commands({h: "true" for h in pending}, task="wait_for")
        down = set(last.unreachable.hosts)
        pending = [h for h in pending if h.alias in down]
        if not pending:
            return
        if attempt + 1 < retries:
            log.info(
                "waiting for %d host(s) to answer over SSH (retry in %.0f s)", len(pending), delay
            )
            time.sleep(delay)
            delay = min(delay * 2, interval)
    from enoslib.errors import EnosSSHNotReady

    names = ", ".join(h.alias for h in pending[:10]) + (" ..." if len(pending) > 10 else "")
    err = EnosSSHNotReady(
        f"{len(pending)} host(s) not reachable over SSH after {retries} attempt(s): {names}"
    )
    err.hosts = pending  # type: ignore[attr-defined]
    err.results = last  # type: ignore[attr-defined]
    raise err


_ENSURE_PYTHON = r"""
command -v python3 >/dev/null 2>&1 && exit 0
S=; [ "$(id -u)" = 0 ] || S="sudo -n"
if command -v apt-get >/dev/null 2>&1; then
  $S env DEBIAN_FRONTEND=noninteractive apt-get -qq update &&
    $S env DEBIAN_FRONTEND=noninteractive apt-get -qq install -y python3
elif command -v dnf >/dev/null 2>&1; then $S dnf -q -y install python3
elif command -v yum >/dev/null 2>&1; then $S yum -q -y install python3
elif command -v apk >/dev/null 2>&1; then $S apk add -q python3
elif command -v zypper >/dev/null 2>&1; then $S zypper -q -n install python3
else echo "no known package manager to install python3" >&2; exit 1
fi
"""


@dumps_results
def ensure_python(
    roles: RolesLike, *, pattern_hosts: str = "all", on_error_continue: bool = False
) -> Results:
    """Install python3 on hosts that lack it (apt, dnf, yum, apk or zypper); Ansible modules
    need it. Hosts that already have it cost one fast command."""
    hosts = get_hosts(roles, pattern_hosts)
    results = exec_commands(
        {h: _ENSURE_PYTHON for h in hosts},
        task="ensure_python",
        shown=dict.fromkeys(hosts, "ensure_python"),
    )
    if not on_error_continue:
        results.raise_for_status()
    return results
