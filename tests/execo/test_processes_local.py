"""execo's process API with local processes: lifecycle, flags, handlers, expect, actions,
substitutions, Report (no root needed)."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import pytest

from enoslib.execo import (STDERR, STDOUT, ActionLifecycleHandler, Host, Local, ParallelActions,
                           Process, ProcessLifecycleHandler, ProcessOutputHandler, Report,
                           SequentialActions, SshProcess, configuration, get_process,
                           remote_substitute, wait_all_actions, wait_any_actions)
from enoslib.objects import Host as EnosHost


def test_process_runs_and_records_its_output() -> None:
    p = Process("echo hello")
    assert (p.started, p.ended, p.ok, p.finished_ok) == (False, False, True, False)
    assert p.run() is p  # method chaining
    assert (p.started, p.ended, p.ok, p.finished_ok) == (True, True, True, True)
    assert p.stdout == "hello\n" and p.stderr == "" and p.exit_code == 0
    assert p.start_date <= p.end_date and p.pid > 0 and not p.running


def test_non_zero_exit_code_is_not_ok_unless_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "enoslib.execo"):
        p = Process("echo oops >&2; exit 3", shell=True).run()
    assert (p.exit_code, p.ok, p.finished_ok, p.stderr) == (3, False, False, "oops\n")
    assert "exit code 3" in caplog.text and "oops" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, "enoslib.execo"):
        quiet = Process("exit 3", shell=True, nolog_exit_code=True).run()
        ignored = Process("exit 3", shell=True, ignore_exit_code=True).run()
    assert not quiet.ok and ignored.ok and ignored.finished_ok
    assert caplog.text == ""


def test_shell_false_splits_and_does_not_expand() -> None:
    assert Process("echo $HOME 'a b'").run().stdout == "$HOME a b\n"
    assert Process(["printf", "%s|", "a b", "c"]).run().stdout == "a b|c|"


def test_missing_executable_is_an_error_not_an_exception() -> None:
    p = Process("no-such-program-here", nolog_error=True).run()
    assert p.error and p.ended and not p.ok and p.exit_code is None
    assert "no-such-program-here" in p.error_reason
    assert Process("no-such-program-here", ignore_error=True, nolog_error=True).run().ok


def test_timeout_kills_and_is_flagged() -> None:
    t = time.monotonic()
    p = Process("sleep 30", timeout=0.5, nolog_timeout=True, nolog_exit_code=True).run()
    assert time.monotonic() - t < 10
    assert p.timeouted and p.killed and not p.ok and p.exit_code == -signal.SIGTERM
    assert p.timeout_date is not None
    ignored = Process("sleep 30", timeout=0.3, ignore_timeout=True, ignore_exit_code=True).run()
    assert ignored.timeouted and ignored.ok


def test_kill_then_forced_kill_after_kill_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(configuration, "kill_timeout", 0.3)
    p = Process(["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"],
                nolog_exit_code=True).start()
    assert p.expect("ready", timeout=10)[0] == 0
    p.kill().wait(20)
    assert p.ended and p.killed and p.forced_kill and p.exit_code == -signal.SIGKILL


def test_kill_reaches_children_of_the_shell() -> None:
    p = Process("sleep 30 & echo $!; wait", shell=True, nolog_exit_code=True).start()
    _, match = p.expect(r"^(\d+)$", timeout=10)
    child = int(match.group(1))
    p.kill().wait(20)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_wait_with_timeout_returns_while_running() -> None:
    p = Process("sleep 30", nolog_exit_code=True).start()
    assert p.wait(timeout=0.2).running
    with p:  # leaving the block kills it
        pass
    assert p.wait(20).killed


def test_expect_write_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    p = Process("cat", nolog_exit_code=True).start()
    p.write("first line\n").write(b"second 42\n")
    assert p.expect("^first")[0] == 0
    index, match = p.expect([r"nothing", r"second (\d+)"], timeout=10)
    assert index == 1 and match.group(1) == "42"
    with caplog.at_level(logging.WARNING, "enoslib.execo"):
        assert p.expect("never", timeout=0.2) == (None, None)
    assert p.expect_fail and "expect" in caplog.text
    p.kill().wait(20)
    assert not p.ok
    p.write("late")  # stdin closed: recorded, not raised
    assert p.write_error


def test_expect_backtrack_and_stderr() -> None:
    p = Process("echo one; echo two >&2; sleep 0.3; echo three", shell=True).start()
    p.wait()
    assert p.expect("one", timeout=1)[0] == 0  # output already there: found (backtrack)
    assert p.expect("two", stream=STDERR, timeout=1)[0] == 0
    assert p.expect("one", timeout=1) == (None, None)  # consumed by the first expect
    q = Process("echo old; sleep 0.5; echo new", shell=True).start()
    time.sleep(0.2)
    assert q.expect("old", timeout=3, start_from_current=True) == (None, None)
    q.wait()


class Lines(ProcessOutputHandler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[int, str, bool]] = []

    def read_line(self, process, stream, string, eof, error) -> None:
        self.lines.append((stream, string, eof))


def test_output_handlers_lines_files_and_no_default_capture(tmp_path: Path) -> None:
    lines, out_file = Lines(), tmp_path / "out.txt"
    with open(tmp_path / "err.txt", "w") as err_file:
        p = Process("printf 'a\\nb\\nc'; echo E >&2", shell=True, stdout_handlers=[lines, str(out_file)],
                    stderr_handlers=[err_file, lines], default_stdout_handler=False).run()
    assert p.stdout == "" and p.stderr == "E\n"  # stdout not kept, still handled
    assert [x for x in lines.lines if x[0] == STDOUT] == [(STDOUT, "a\n", False), (STDOUT, "b\n", False),
                                                           (STDOUT, "c", True)]
    assert (STDERR, "E\n", False) in lines.lines
    assert out_file.read_text() == "a\nb\nc" and (tmp_path / "err.txt").read_text() == "E\n"


class Events(ProcessLifecycleHandler, ActionLifecycleHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, bool]] = []

    def start(self, x) -> None:
        self.events.append(("start", x.ended))

    def end(self, x) -> None:
        self.events.append(("end", x.ended))

    def reset(self, x) -> None:
        self.events.append(("reset", x.started))


def test_lifecycle_handlers_and_reset() -> None:
    events = Events()
    p = Process("echo x", lifecycle_handlers=[events]).run()
    with pytest.raises(ValueError, match="already started"):
        p.start()
    p.reset()
    assert (p.started, p.ended, p.stdout, p.exit_code) == (False, False, "", None)
    p.run()
    assert p.stdout == "x\n"
    assert events.events == [("start", False), ("end", True), ("reset", False),
                             ("start", False), ("end", True)]


def test_handler_exception_does_not_stop_the_process(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(ProcessOutputHandler):
        def read_line(self, *args) -> None:
            raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, "enoslib.execo"):
        p = Process("echo x", stdout_handlers=[Broken()]).run()
    assert p.ok and p.stdout == "x\n" and "boom" in caplog.text


def test_pty() -> None:
    p = Process("tty; echo err >&2", shell=True, pty=True).run()
    assert p.stdout.startswith("/dev/pts/") and "err" in p.stdout


def test_actions_parallel_sequential_and_handlers() -> None:
    events = Events()
    first, second = Local("sleep 0.2; echo 1", shell=True), Local("echo 2", shell=True)
    seq = SequentialActions([first, second], lifecycle_handlers=[events]).run()
    assert seq.finished_ok and second.processes[0].start_date >= first.processes[0].end_date
    assert events.events == [("start", False), ("end", True)]
    par = ParallelActions([Local("sleep 0.3"), Local("exit 1", shell=True, nolog_exit_code=True)]).run()
    assert par.ended and not par.ok and [p.exit_code for p in par.processes] == [0, 1]


def test_sequential_kill_stops_the_chain() -> None:
    a, b = Local("sleep 30", nolog_exit_code=True), Local("echo never")
    seq = SequentialActions([a, b]).start()
    time.sleep(0.2)
    seq.kill().wait(20)
    assert seq.ended and not b.started and a.processes[0].killed


def test_wait_any_and_all_actions() -> None:
    fast, slow = Local("true"), Local("sleep 0.5")
    fast.start(), slow.start()
    assert wait_any_actions([fast, slow], timeout=20) == [fast]
    assert wait_all_actions([fast, slow], timeout=20) == [fast, slow]


def test_report_sums_and_prints() -> None:
    ok, bad = Local("true").run(), Local("exit 2", shell=True, nolog_exit_code=True).run()
    report = Report([ok, bad], name="mine")
    stats = report.stats()
    assert (stats["num_processes"], stats["num_ok"], stats["num_non_zero_exit_codes"]) == (2, 1, 1)
    assert stats["start_date"] <= stats["end_date"]
    text = report.to_string()
    assert "Name: mine" in text and "num non-zero exit codes 1" in text and "Name: Local" in text
    wide = Report([report, Process("true").run()]).to_string(wide=True)
    assert wide.splitlines()[0].startswith("Name") and "mine" in wide and "badretval" in wide
    assert len(Report([ok]).to_string(brief=True).splitlines()) == 15


def test_results_and_raise_for_status_are_enoslib_s() -> None:
    from enoslib.errors import EnosFailedHostsError

    bad = Local("echo out; exit 3", shell=True, nolog_exit_code=True)
    with pytest.raises(RuntimeError, match="has not ended"):
        bad.raise_for_status()
    assert bad.results == []  # nothing has ended
    bad.run()
    (r,) = bad.results
    assert (r.host, r.task, r.status, r.stdout, r.rc) == ("localhost", "echo out; exit 3", "failed", "out", 3)
    with pytest.raises(EnosFailedHostsError, match="rc=3") as err:
        bad.raise_for_status()
    assert err.value.results[0].rc == 3
    ignored = Local("exit 3", shell=True, ignore_exit_code=True).run()  # execo's ok decides
    assert ignored.raise_for_status()[0].status == "ok" and ignored.results[0].duration >= 0


def test_substitutions_one_pass_quoted() -> None:
    hosts = [Host("10.0.0.1"), Host("10.0.0.2"), Host("10.0.0.3")]
    targets = list(reversed(hosts))  # noqa: F841 - used by {{targets}}
    words = ["a b", "{{{host}}}"]  # noqa: F841 - used by {{words}}
    assert remote_substitute("ping {{targets}} from {{{host}}}", hosts, 0) == "ping 10.0.0.3 from 10.0.0.1"
    assert remote_substitute("x {{words}}", hosts, 2, quote=True) == "x 'a b'"  # 2 % 2 == 0
    # a substituted value is never substituted again
    assert remote_substitute("x {{words}}", hosts, 1, quote=True) == "x '{{{host}}}'"
    assert remote_substitute("{{[i * 10 for i in range(2)]}}", hosts, 1) == "10"
    with pytest.raises(ValueError, match="undefined_name"):
        remote_substitute("{{undefined_name}}", hosts, 0)


def test_host_has_execo_signature() -> None:
    h = Host("node-1", "root", "~/.ssh/key", 2222)
    assert (h.address, h.user, h.keyfile, h.port) == ("node-1", "root", "~/.ssh/key", 2222)
    assert Host("node-1", user=False).user is None and str(h) == "node-1"
    copy = Host(h, user="bob")
    assert (copy.user, copy.port) == ("bob", 2222)
    assert Host("a") == EnosHost("a") and len({Host("a"), Host("a"), Host("a", "u")}) == 2
    from enoslib.execo import get_hosts_list

    assert get_hosts_list(["x", Host("y")]) == [Host("x"), Host("y")]
    from enoslib.objects import Roles

    a, b = EnosHost("a"), EnosHost("b")
    assert get_hosts_list(Roles(server=[a, b], client=[b])) == [a, b]


def test_get_process_factory() -> None:
    assert type(get_process("true")) is Process
    assert type(get_process("true", host="h")) is SshProcess


def test_bad_connection_parameter_is_named() -> None:
    with pytest.raises(ValueError, match="unknown connection parameter.*sshoptions"):
        SshProcess("true", "h", connection_params={"sshoptions": ()})


def test_processes_left_running_are_killed_when_python_exits(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "from enoslib.execo import Process\n"
        "p = Process('sleep 60 & echo $!; wait', shell=True).start()\n"
        "p.expect(r'^\\d+$', timeout=10)\n"
        "print(p.stdout.strip(), flush=True)\n"
        "raise KeyboardInterrupt\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists()


def test_serial_port_on_a_pty() -> None:
    import os
    import select

    from enoslib.execo import Serial

    master, slave = os.openpty()
    try:
        with Serial(os.ttyname(slave), 115200).start() as serial:
            os.write(master, b"login: \n")
            assert serial.expect(r"^login:", timeout=10)[0] == 0
            serial.write("root\n")
            got = b""
            deadline = time.monotonic() + 10
            while b"root\n" not in got and time.monotonic() < deadline:
                if select.select([master], [], [], 0.5)[0]:
                    got += os.read(master, 100)
            assert b"root\n" in got
        serial.wait(20)
        assert serial.ended and serial.ok  # ends by being killed: not an error
    finally:
        os.close(master)
        os.close(slave)


def test_bad_handlers(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="output handler"):
        Process("true", stdout_handlers=[42.0]).start()
    p = Process("true", stdout_handlers=[str(tmp_path / "no" / "such" / "dir" / "f")],
                nolog_error=True).run()
    assert p.ended and p.error and "No such file" in p.error_reason


def test_execo_configuration_file_runs_once_for_every_reader(tmp_path):
    """~/.execo.conf.py is read by enoslib.execo and enoslib.g5k: executed once per version."""
    import os

    from enoslib.execo.config import load_configuration

    runs = tmp_path / "runs"
    conf = tmp_path / "execo.conf.py"
    conf.write_text(f"open({str(runs)!r}, 'a').write('x')\n"
                    "configuration = {'kill_timeout': 7}\ng5k_configuration = {'polling_interval': 3}\n")
    execo_side: dict = {}
    g5k_side: dict = {}
    assert load_configuration(str(conf), targets={"configuration": execo_side})
    assert load_configuration(str(conf), targets={"g5k_configuration": g5k_side})
    assert (execo_side, g5k_side, runs.read_text()) == ({"kill_timeout": 7}, {"polling_interval": 3}, "x")
    # the value only: tmp_path may hold a 7 too (pytest-570 became pytest-580)
    conf.write_text(conf.read_text().replace("'kill_timeout': 7", "'kill_timeout': 8"))
    os.utime(conf, ns=(1, os.stat(conf).st_mtime_ns + 10**9))  # a new version of the file
    assert load_configuration(str(conf), targets={"configuration": execo_side})
    assert execo_side == {"kill_timeout": 8} and runs.read_text() == "xx"
    assert not load_configuration(str(tmp_path / "missing.py"))
