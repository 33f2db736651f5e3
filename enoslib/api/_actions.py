"""Ansible modules from Python: ``actions``, ``run_play``, ``run_ansible``, ``gather_facts``.

>>> with en.actions(roles=roles["server"]) as a:
...     a.apt(name="iperf3", state="present", task_name="install iperf3")
...     a.shell("iperf3 --version", register="version")
...     a.ansible.builtin.copy(src="conf.json", dest="/etc/app.json", become=True)
>>> a.results.failed   # one Result per host and task

Keyword arguments are the module's arguments (``name=``, ``delay=``, ``timeout=`` ...),
except the task keywords no module takes (:data:`TASK_KEYWORDS`: ``register``, ``when``,
``become``, ``loop`` ...). The task's name is ``task_name=`` (literal text, never templated);
other task keywords go in ``task_kwargs={"retries": 3, "delay": 2, "until": ...}``.

The recorded tasks run as ONE play on exit. When every task is a plain ``shell``,
``command`` or ``raw`` call with nothing for Ansible to evaluate (no ``when``, loops or
``{{ }}``), the play runs over the SSH fast path instead: same Results, no Python module
shipped to the hosts. When the tasks are Ansible modules (``apt``, ``lineinfile``,
``file``, ``stat``, ``setup``, ``pip``, ``copy``, ``template`` ..., with ``register``,
``when``, loops, ``{{ }}``, ``become``, ``ignore_errors``, ``check_mode`` ...), they run on
the module fast path (:mod:`enoslib.api.modules`: Ansible's own module code, run by a
persistent agent per host, and ansible-core's own task execution where the play needs it).
Anything else (``delegate_to``, ``async``, other action plugins, facts gathering ...) runs
the play through ansible-core's strategy, with its tasks in threads on the same agents
(``enoslib.api.ansible``); ``a.engine_used`` tells which path ran, and the reason for
falling back is logged at DEBUG on ``enoslib.api.actions``. ``engine="ansible"`` forces
ansible-core with its forked workers and ``ssh`` connection plugin.
"""

from __future__ import annotations

import logging
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from enoslib.api.ansible import Literal, check, run_playbooks, run_plays
from enoslib.api.commands import exec_commands, wrap
from enoslib.api.hosts import RolesLike, as_roles, get_hosts
from enoslib.api.results import Results, dumps_results
from enoslib.api.templating import for_ansible

if TYPE_CHECKING:
    from enoslib.objects import Host

log = logging.getLogger("enoslib.api.actions")

# Task keywords recognised among a module call's keyword arguments: only names that no module
# takes as an argument. Names that are both (``name``, ``delay``, ``timeout``, ``retries``,
# ``tags``, ``args`` ...: ``apt(name=)``, ``wait_for(delay=, timeout=)``) are module arguments;
# as task keywords they go in ``task_kwargs={...}``, and the task's name is ``task_name=``.
TASK_KEYWORDS = frozenset(
    {
        "register",
        "when",
        "become",
        "become_user",
        "become_method",
        "become_flags",
        "become_exe",
        "ignore_errors",
        "ignore_unreachable",
        "loop",
        "loop_control",
        "until",
        "changed_when",
        "failed_when",
        "environment",
        "vars",
        "delegate_to",
        "delegate_facts",
        "run_once",
        "notify",
        "no_log",
        "async",
        "poll",
        "check_mode",
        "any_errors_fatal",
        "throttle",
        "module_defaults",
        "with_items",
        "with_dict",
        "with_list",
        "with_fileglob",
        "with_sequence",
        "with_together",
        "with_nested",
        "with_subelements",
    }
)
# EnOSlib's spelling of ``async`` (a Python keyword)
_KEYWORD_ALIASES = {"asynch": "async"}
_FAST_MODULES = {"shell", "command", "raw"}
_FAST_KEYWORDS = {"name", "register", "become", "become_user", "ignore_errors"}
_BACKGROUND_SECONDS = 365 * 24 * 3600  # "async" for background tasks: as long as it takes


@dataclass
class Task:
    module: str
    free_form: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    keywords: dict[str, Any] = field(default_factory=dict)

    def to_ansible(self) -> dict[str, Any]:
        args = dict(self.args)
        if self.free_form is not None:
            command = self.free_form
            if self.short_module in _FAST_MODULES:  # values reach a shell: quoted
                command = for_ansible(command)
            args["_raw_params"] = command
        return {**self.keywords, self.module: args}

    @property
    def short_module(self) -> str:
        return self.module.rsplit(".", 1)[-1]

    def fast(self) -> bool:
        """Can run as a plain command over ssh with the same outcome as the module?"""
        return (
            self.short_module in _FAST_MODULES
            and self.module.split(".")[0] in (self.short_module, "ansible")
            and isinstance(self.free_form, str)
            and set(self.args) <= {"chdir"}
            and set(self.keywords) <= _FAST_KEYWORDS
            and not any(
                "{{" in str(v) or "{%" in str(v)
                # the name is literal text: it needs no template engine
                for v in (self.free_form, *self.args.values(), *self.keywords.values())
                if not isinstance(v, Literal)
            )
            # the command module expands $VARS and ~ in its words itself (not via a shell)
            and not (
                self.short_module == "command" and ("$" in self.free_form or "~" in self.free_form)
            )
        )


class _Module:
    """``a.apt`` / ``a.ansible.builtin.apt`` / ``a.community.general.x``: call to record."""

    def __init__(self, owner: "actions", name: str) -> None:
        self._owner = owner
        self._name = name

    def __getattr__(self, part: str) -> "_Module":
        if part.startswith("__"):
            raise AttributeError(part)
        return _Module(self._owner, f"{self._name}.{part}")

    def __call__(
        self,
        *free_form: str,
        task_name: str | None = None,
        background: bool = False,
        task_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> "actions":
        """Record one task: ``kwargs`` are the module's arguments, except the unambiguous
        task keywords of :data:`TASK_KEYWORDS` (``register``, ``when``, ``become``, ``loop``
        ...); ``task_kwargs`` gives any task keyword explicitly (``{"retries": 3}``),
        ``task_name`` the task's name (literal text, never templated)."""
        if len(free_form) > 1:
            raise TypeError(
                f"{self._name}() takes at most one positional argument (the free-form command)"
            )
        keywords: dict[str, Any] = {}
        args: dict[str, Any] = {}
        for key, value in kwargs.items():
            key = _KEYWORD_ALIASES.get(key, key)
            (keywords if key in TASK_KEYWORDS else args)[key] = value
        for key, value in (task_kwargs or {}).items():
            if key == "name":
                raise TypeError(
                    f"{self._name}(): give the task's name as task_name=, not in task_kwargs"
                )
            keywords[_KEYWORD_ALIASES.get(key, key)] = value
        text = free_form[0] if free_form else None
        keywords["name"] = Literal(task_name or text or self._name)
        if background or self._owner.background:
            keywords.update({"async": _BACKGROUND_SECONDS, "poll": 0})
        self._owner.tasks.append(Task(self._name, text, args, keywords))
        return self._owner


class actions:  # noqa: N801 - EnOSlib's name, used as a context manager
    """Record Ansible module calls, run them as one play on exit (see module docstring).

    ``roles``/``pattern_hosts`` select hosts; ``run_as`` runs every task as that user;
    ``background`` starts every task detached; ``strategy`` is Ansible's (``linear``,
    ``free``); failures raise on exit unless ``on_error_continue``. Results: ``a.results``.
    ``priors``: other actions whose tasks run first, in this play. Any other keyword
    argument is an error (a typo must not be ignored).
    """

    def __init__(
        self,
        roles: RolesLike | None = None,
        *,
        pattern_hosts: str = "all",
        gather_facts: bool = False,
        run_as: str | None = None,
        background: bool = False,
        strategy: str = "linear",
        on_error_continue: bool = False,
        extra_vars: Mapping[str, Any] | None = None,
        engine: str = "auto",
        priors: Iterable["actions"] | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise TypeError(
                f"actions() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}"
            )
        if engine not in ("auto", "ssh", "ansible"):
            raise ValueError(f"engine must be 'auto', 'ssh' or 'ansible', not {engine!r}")
        self.roles = as_roles(roles)
        self.pattern_hosts = pattern_hosts
        self.gather_facts = gather_facts
        self.run_as = run_as
        self.background = background
        self.strategy = strategy
        self.on_error_continue = on_error_continue
        self.extra_vars = dict(extra_vars or {})
        self.engine = engine
        self.tasks: list[Task] = [t for prior in priors or () for t in prior.tasks]
        # a play given to run_play: its handlers and play vars (actions records neither)
        self.handlers: list[Task] = []
        self.play_vars: dict[str, Any] = {}
        self.results = Results()
        self.engine_used: str | None = None  # "ssh", "modules" or "ansible", after the run

    def __getattr__(self, name: str) -> _Module:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Module(self, name)

    def __enter__(self) -> "actions":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self._execute()

    def play(self) -> dict[str, Any]:
        """The play these actions make, as Ansible would read it from YAML."""
        source: dict[str, Any] = {
            "hosts": self.pattern_hosts,
            "name": "enoslib actions",
            "gather_facts": self.gather_facts,
            "strategy": self.strategy,
            "tasks": [t.to_ansible() for t in self.tasks],
        }
        if self.handlers:
            source["handlers"] = [t.to_ansible() for t in self.handlers]
        if self.play_vars:
            source["vars"] = dict(self.play_vars)
        if self.run_as:
            source.update(become=True, become_user=self.run_as)
        return source

    def _use_fast_path(self) -> bool:
        if self.engine != "auto":
            return self.engine == "ssh"
        return (
            not self.gather_facts
            and self.strategy in ("linear", "free")
            and all(t.fast() for t in self.tasks)
            and self.vars_refusal(executor=False) is None
        )

    def vars_refusal(self, executor: bool) -> str | None:
        """Why Ansible variables (the hosts', the play's, extra ones) keep this play off the
        SSH and plain module fast paths, or off ansible-core's TaskExecutor on our agents too
        (``executor``); None when they do not. See :func:`ansible_vars_refusal`."""
        return ansible_vars_refusal(get_hosts(self.roles, self.pattern_hosts), self.play_vars,
                                    self.extra_vars, executor=executor)

    def module_path_refusal(self) -> str | None:
        """Why this play cannot run on the module fast path (:mod:`enoslib.api.modules`),
        or None when it can."""
        if self.gather_facts:
            return "gather_facts=True"
        if self.strategy not in ("linear", "free"):
            return f"strategy {self.strategy!r}"
        from enoslib.api.modules import unsupported

        reason = self.vars_refusal(executor=True)
        if reason:
            return reason
        for t in [*self.tasks, *self.handlers]:
            if t.fast():
                continue
            reason = unsupported(t)
            if reason:
                return f"task {str(t.keywords.get('name'))!r} ({t.module}): {reason}"
        return None

    @dumps_results
    def _execute(self) -> Results:
        if not self.tasks:
            self.results = Results()
            return check(self.results, self.on_error_continue)
        if self._use_fast_path():
            self.engine_used = "ssh"
            self.results = _run_fast(self)
            return check(self.results, self.on_error_continue)
        reason = "engine='ansible'" if self.engine == "ansible" else self.module_path_refusal()
        if reason is None:
            from enoslib.api.modules import run_actions

            log.debug("actions: %d task(s) on the module fast path", len(self.tasks))
            self.engine_used = "modules"
            self.results = run_actions(self)
        else:
            log.debug("actions: through ansible-core, because of %s", reason)
            self.engine_used = "ansible"
            self.results = run_plays([self.play()], self.roles, self.extra_vars,
                                     classic=True if self.engine == "ansible" else None)
        return check(self.results, self.on_error_continue)


# host variables (``Host.extra``) the fast paths honour (enoslib's ssh options, the agents'
# interpreter); any other ``ansible_*`` variable may change how Ansible reaches the host or runs
# its tasks (``ansible_connection: local``, ``ansible_become*``, ``ansible_remote_tmp`` ...)
_HOST_VARS_HONOURED = frozenset({"ansible_host_key_checking", "ansible_python_interpreter",
                                 "ansible_ssh_common_args", "ansible_ssh_extra_args"})
# variables that ansible-core's TaskExecutor on our agents does not honour either (the agents
# are reached over ssh and become with sudo, without password): ansible-core's strategy
_PLUGIN_VARS = frozenset({"ansible_connection", "ansible_become_method", "ansible_become_exe",
                          "ansible_become_flags", "ansible_become_password",
                          "ansible_become_pass", "ansible_sudo_pass"})


def ansible_vars_refusal(hosts: Iterable[Host], play_vars: Mapping[str, Any],
                         extra_vars: Mapping[str, Any], executor: bool = False) -> str | None:
    """Why Ansible variables keep tasks on ``hosts`` off the SSH and plain module fast paths
    (they honour none but the ssh options and the interpreter), or off ansible-core's
    TaskExecutor on our agents too (``executor``: it honours all but the connection and
    become plugins' own settings), e.g. ``"host localhost's variable ansible_connection"``;
    None when they do not. So do ansible-core's own settings of who runs tasks (the
    TaskExecutor follows ``become_user``) and ``keep_remote_files``."""
    from enoslib.api.ansible import core_settings_changed

    for key in core_settings_changed():
        if not executor or key != "become_user":
            return f"ansible-core's setting {key}"
    for where, key in [*((f"host {h.alias}'s", k) for h in hosts for k in _changed_vars(h)),
                       *(("play", k) for k in play_vars),
                       *(("extra", k) for k in extra_vars)]:
        if str(key).startswith("ansible_") and (not executor or key in _PLUGIN_VARS):
            return f"{where} variable {key}"
    return None


def _changed_vars(h: Host) -> list[str]:
    """The ``ansible_*`` variables of ``h.extra`` that change what the fast paths would do."""
    # what the Host's own fields say (and the ssh connection): the same value is no change
    own = {"ansible_connection": "ssh", "ansible_host": h.address, "ansible_user": h.user,
           "ansible_port": h.port, "ansible_ssh_private_key_file": h.keyfile}
    return [key for key, value in h.extra.items()
            if key.startswith("ansible_") and key not in _HOST_VARS_HONOURED
            and value != own.get(key, ...)]


def become_user_of(keywords: Mapping[str, Any], run_as: str | None) -> str | None:
    """The user a task runs as, as Ansible decides it from the task's ``become`` /
    ``become_user`` and the play's (``run_as``: become with that user); None: the SSH user."""
    if "become" in keywords and not keywords["become"]:
        return None
    if keywords.get("become") or run_as:
        return str(keywords.get("become_user") or run_as or "root")
    return None


def _fast_command(task: Task, run_as: str | None, background: bool) -> str:
    text = task.free_form or ""
    kw = task.keywords
    user = become_user_of(kw, run_as)
    if task.short_module == "command":  # no shell: words are literal, as the module does
        text = shlex.join(shlex.split(text))
    elif task.short_module == "shell" and not (user or background or task.args.get("chdir")):
        text = f"/bin/sh -c {shlex.quote(text)}"  # the module's shell, not the login shell
    return wrap(text, run_as=user, background=background, chdir=task.args.get("chdir"))


def _run_fast_task(task: Task, active: list[Any], run_as: str | None) -> Results:
    """One plain shell/command task over ssh on ``active`` hosts."""
    background = "async" in task.keywords
    command = _fast_command(task, run_as, background)
    step = exec_commands(
        dict.fromkeys(active, command),
        task=task.keywords["name"],
        shown=dict.fromkeys(active, task.free_form or ""),
        # Ansible's raw runs on a terminal (its ssh plugin's -tt), output as it came
        tty=task.short_module == "raw" and not background,
    )
    if task.keywords.get("ignore_errors"):
        for r in step:
            if r.status == "failed":
                r.payload["ignored"] = True
    return step


def _run_fast(a: actions) -> Results:
    """Linear play over ssh (see :func:`_run_linear`)."""
    return _run_linear(a, lambda task, active: _run_fast_task(task, active, a.run_as))


def dropped_hosts(results: Results) -> set[str]:
    """The hosts (aliases) that leave the play after ``results``, as in Ansible's linear
    strategy: unreachable, or failed without ``ignore_errors``."""
    return {
        r.host
        for r in results
        if r.status == "unreachable" or (r.status == "failed" and not r.payload.get("ignored"))
    }


def _run_linear(a: actions, run_task: Callable[[Any, list[Host]], Results]) -> Results:
    """Each task of ``a`` (run by ``run_task(task, hosts)``) on every host still in play, hosts
    dropping out on failure (unless ``ignore_errors``), as Ansible's linear strategy does."""
    active = get_hosts(a.roles, a.pattern_hosts)
    results = Results()
    for task in a.tasks:
        if not active:
            break
        step = run_task(task, active)
        gone = dropped_hosts(step)
        active = [h for h in active if h.alias not in gone]
        results.extend(step)
    return results


@dumps_results
def run_play(
    play_source: Mapping[str, Any],
    roles: RolesLike | None = None,
    *,
    extra_vars: Mapping[str, Any] | None = None,
    on_error_continue: bool = False,
    **_: Any,
) -> Results:
    """Run one play given as a dict (``{"hosts": "server", "tasks": [...]}``) on ``roles``.

    A play of module tasks, handlers and vars that the module fast path runs (see
    :mod:`enoslib.api.modules`) runs there; anything else (roles, ``serial``, blocks ...)
    through ansible-core."""
    source = dict(play_source)
    source.setdefault("hosts", "all")
    source.setdefault("gather_facts", False)
    a = _play_as_actions(source, roles, extra_vars)
    if a is not None:
        reason = a.module_path_refusal()
        if reason is None:
            a.on_error_continue = on_error_continue
            return a._execute()
        log.debug("run_play: through ansible-core, because of %s", reason)
    return check(run_plays([source], as_roles(roles), extra_vars), on_error_continue)


_PLAY_KEYS = {"hosts", "name", "gather_facts", "tasks", "become", "become_user", "handlers",
              "vars"}


def _play_as_actions(
    source: Mapping[str, Any], roles: RolesLike | None, extra_vars: Mapping[str, Any] | None
) -> actions | None:
    """The play as recorded ``actions`` when it is only a list of module calls, else None
    (ansible-core reads it)."""
    if set(source) - _PLAY_KEYS or not isinstance(source.get("hosts"), str):
        log.debug("run_play: through ansible-core, because of play keys %s",
                  sorted(set(source) - _PLAY_KEYS) or "hosts")
        return None
    if source.get("become") and not isinstance(source.get("become_user", "root"), str):
        return None
    run_as = (source.get("become_user") or "root") if source.get("become") is True else None
    if source.get("become") not in (None, False, True):
        return None
    a = actions(
        roles,
        pattern_hosts=source["hosts"],
        gather_facts=bool(source.get("gather_facts")),
        run_as=run_as,
        extra_vars=extra_vars,
    )
    if not isinstance(source.get("vars") or {}, Mapping):
        return None
    a.play_vars = dict(source.get("vars") or {})
    for key, where, keywords in (("tasks", a.tasks, TASK_KEYWORDS),
                                 ("handlers", a.handlers, TASK_KEYWORDS | {"listen"})):
        for raw in source.get(key) or []:
            task = _task_from_dict(raw, keywords)
            if task is None:
                return None
            where.append(task)
    return a


def _task_from_dict(raw: Any, task_keywords: frozenset[str]) -> Task | None:
    """A task of a play as a recorded Task, or None when ansible-core must read it."""
    if not isinstance(raw, Mapping):
        return None
    keywords = {k: v for k, v in raw.items() if k in task_keywords or k == "name"}
    modules = [k for k in raw if k not in keywords]
    if len(modules) != 1:
        log.debug("run_play: through ansible-core, because of task keys %s", modules)
        return None
    module, value = modules[0], raw[modules[0]]
    free_form = None
    if isinstance(value, str) and module.rsplit(".", 1)[-1] in _FAST_MODULES:
        free_form, args = value, {}
    elif isinstance(value, Mapping):
        args = dict(value)
        if "_raw_params" in args:
            free_form = args.pop("_raw_params")
    elif value is None:
        args = {}
    else:
        log.debug("run_play: through ansible-core, because of task %r's k=v arguments", module)
        return None
    keywords["name"] = keywords.get("name") or Literal(module)  # ansible-core names it so
    return Task(module, free_form, args, keywords)


@dumps_results
def run_ansible(
    playbooks: str | Path | Iterable[str | Path],
    roles: RolesLike | None = None,
    *,
    extra_vars: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    skip_tags: Iterable[str] | None = None,
    on_error_continue: bool = False,
    **_: Any,
) -> Results:
    """Run playbook files against ``roles`` (each role is an inventory group)."""
    paths = [playbooks] if isinstance(playbooks, (str, Path)) else list(playbooks)
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"playbook not found: {p}")
    results = run_playbooks(
        [str(Path(p).resolve()) for p in paths],
        as_roles(roles),
        extra_vars,
        list(tags) if tags else None,
        list(skip_tags) if skip_tags else None,
    )
    return check(results, on_error_continue)


def gather_facts(
    roles: RolesLike | None = None,
    *,
    pattern_hosts: str = "all",
    gather_subset: Iterable[str] | None = None,
    on_error_continue: bool = False,
) -> dict[str, dict[str, Any]]:
    """Ansible facts of each host: ``{alias: {"ansible_hostname": ..., ...}}``.

    Unreachable or failed hosts raise unless ``on_error_continue`` (then they are absent).
    """
    args: dict[str, Any] = {}
    if gather_subset:
        args["gather_subset"] = list(gather_subset)
    a = actions(roles, pattern_hosts=pattern_hosts, on_error_continue=on_error_continue)
    a.ansible.builtin.setup(task_name="gather facts", **args)
    results = a._execute()  # raises as check() does; dumps its results (dump_results) if not
    return {r.host: r.payload.get("ansible_facts", {}) for r in results.ok}


def shell_with_ansible(
    command: str,
    roles: RolesLike | None,
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
    **kwargs: Any,
) -> Results:
    """``run_command`` through Ansible's shell module (Jinja with facts, module options).

    ``kwargs`` are shell-module arguments and task keywords (split as for ``actions``);
    ``{{ }}`` values are shell-quoted as on the ssh engine (``Task.to_ansible``)."""
    a = actions(
        roles,
        pattern_hosts=pattern_hosts,
        gather_facts=gather_facts,
        run_as=run_as,
        background=background,
        on_error_continue=True,
        extra_vars=extra_vars,
        engine="ansible",
    )
    options: dict[str, Any] = dict(kwargs)
    if chdir:
        options["chdir"] = chdir
    if environment:
        options["environment"] = dict(environment)
    task_kwargs = {"timeout": max(1, math.ceil(timeout))} if timeout else None
    if stdin is not None:
        options["stdin"] = stdin.decode() if isinstance(stdin, bytes) else stdin
        options.setdefault("stdin_add_newline", False)  # the bytes given, as on the ssh engine
    a.shell(command, task_name=task_name, task_kwargs=task_kwargs, **options)
    a._execute()
    return check(a.results, on_error_continue)
