"""The remote half of the module fast path: a Python process kept alive on each host.

This file is NOT imported by enoslib: :mod:`enoslib.api.agents` reads its text and starts
it on a host over the host's multiplexed SSH connection. Stdlib only, Python >= 3.6 (what
ansible-core's modules need on the targets anyway).

Daemons: a controller process's agent on a host is a session of a daemon that outlives the
process, one per host, effective user and version of this file. Over SSH runs only the
relay (the first part of this file, ``python3 -S -c``, a few ms): it connects to the
daemon's Unix socket ``~/.cache/enoslib-agent/d-<version>-<host id>.sock`` (starting the
daemon, detached, if none listens: one client at a time, under the lock file
``d-<version>-<host id>.lock``: hosts sharing a home start theirs at once; the daemon is
a fork of that relay, which asks the controller for the agent first: the relay's command
carries none, most sessions go to a running daemon; the controller sends its source and,
when the relay's Python has the controller's bytecode cache tag and magic number, its code
compiled, which the daemon runs instead of compiling the source),
hands it the session's stdin/stdout/stderr (``SCM_RIGHTS``) with its environment, working
directory and umask, and waits for the session's end. The daemon imported ansible's
``basic`` once (from the most recently used library), and forks a child per session that
takes the session's environment and serves the protocol below, warm from its first
request. The daemon exits once no session was open for its idle time (the last client's
``agent_persist``), when asked (``stop``), or when its socket is gone; a socket nobody
listens on (daemon killed) is replaced. The socket's directory is the private cache
directory below; without one (or with ``agent_persist`` 0), the relay runs the agent as a
process of its own for the session, as the hello says (``"daemon": null``). The host id
hashes the interpreter, the host's boot id, name and namespaces: hosts or containers
sharing a home never share a daemon.

Protocol (stdin/stdout of the process, the SSH channel): frames of a 4-byte big-endian
length followed by that many bytes of JSON. (A relay that needs the agent sends ``{"send":
"agent", "tag", "magic"}`` and reads a frame of its packed source first, followed by a space
and its packed code when compiled for this tag and magic.) The agent first sends ``{"hello": {...,
"libs": [key, ...], "tag", "magic", "daemon": {"pid", "started", "warm"} | null}}`` (the
module libraries this host already holds, its Python's bytecode cache tag and magic number,
the daemon serving the session); then for each request ``{"lib": key, "zip_data": b64?,
"bytecode": {...}?, "fqn", "params", "profile", "extensions", "env", "rlimit", "fork"?}``
(``fork``: never in the agent's process, see below) it answers
``{"rc", "stdout", "stderr", "built"?}``: what the AnsiballZ wrapper would have printed and
returned when run by ansible-core (``built``: how many files' bytecode came with the request
and how many were compiled here, when the library was built for it); or ``{"need": key}``
when it holds no valid library ``key`` and the request came without its zip.
Requests ``{"sh": command, "stdin", "tty"?}`` and ``{"put": path, "data"}`` run a command with
the user's login shell (on a new terminal with ``tty``) / write a file (base64 data and
output), as the host's SSH connection would; ``{"mkdtemp": name, "tmpdir",
"system_tmpdirs"}``, ``{"rmtree": path}`` and ``{"expanduser": "~user"}`` do here what
ansible-core's POSIX shell plugin has ``/bin/sh`` do for its temporary directories and ``~``
(same directories, modes and output), without a shell.

Each module runs through ansible-core's own AnsiballZ loader
(``ansible.module_utils._internal._ansiballz._loader.run_module``), with the module's
library first on ``sys.path``, as ansible-core's ``python`` process would run it (same
stdout, stderr and exit status). The agent imports ansible's module_utils once. Modules of
``IN_PROCESS`` (``ping``, ``stat``, ``file``, ``copy``, ``command``, ``lineinfile``,
``slurp``, ``replace``, ``blockinfile``: read for what they change in their process) run in
the agent's own process, without a fork, as Mitogen runs new-style modules: their stdout
and stderr (fds 1 and 2) go to the in-memory files below, ``SystemExit`` gives the exit
status, and what a module may change in the process is saved before and put back after
(``_Saved``: working directory, umask, environment, locale, signal handlers, ``sys.argv``,
``sys.path``, ``sys.meta_path``, the std streams and hooks, the open-files limit, the
globals of every ``ansible.*`` module (``basic._ANSIBLE_ARGS`` and the profile...), the
warnings and deprecations ansible-core's module_utils collect, Python's warning filters,
``tempfile.tempdir``, syslog; functions given to ``atexit`` run when the module ends;
modules it imported stay imported only from the standard library and ansible, so its own
``__main__`` code runs fresh each time, its spec and code object read once per library).
A module that hangs blocks the session as a forked one does (the agent waits for it).
Every other module, one with extensions (coverage, debugger) and a request with
``"fork": true`` run in a forked child: a module costs a fork, not a new interpreter that
imports ``basic`` again. A library whose files differ from those imported (another
ansible-core) gets its own imports.
The parent also imports what its children imported from the standard library and
ansible-core's JSON profiles (each child names them), has glibc load the locale modules set,
and freezes its objects for the child's garbage collector; a module's stdout and stderr go
to two in-memory files of the parent (memfd; files in its work directory where there are
none), read once the module has ended.

Module libraries last between processes: the module's zip (ansible-core builds it on the
controller) is stored once per host and user, with bytecode for each of its ``.py`` files
(importing ``basic`` then costs half as much as from ansible-core's zip, where every file is
compiled again by every process; compiled once by the controller and sent with the zip when
its Python has this one's cache tag and magic number, else compiled here; a file another
library built by the same session holds with the same source takes that library's bytecode),
as ``~/.cache/enoslib-agent/<key>-<python tag>-<sha256>.zip``;
``key`` is a hash of the zip's files and of this agent's source (computed by the
controller), ``sha256`` the hash of the file's own bytes, checked before a process first
uses it: a damaged or half-written library is deleted and built again from the zip (asked
for with ``need``). The cache directory is the effective user's own (its passwd home, 0700,
owned by it) or none is used. Modules imported from a library have ``__file__`` ending in
``.pyc`` (the directory is the same).
"""

# -- relay: from here to the "end of relay" line, sent alone (``python3 -S -c``) ---------------
import os
import sys

_BOOT = "import base64,zlib,sys;exec(zlib.decompress(base64.b64decode(sys.argv[1])))"


def _cache_root():
    """``~/.cache/enoslib-agent`` of the effective user (its passwd home: sudo may have kept
    the caller's $HOME), when it is private to that user; else None (no cache, no daemon)."""
    import stat

    try:
        import pwd

        root = os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".cache", "enoslib-agent")
        if not os.path.isdir(root):
            os.makedirs(root, mode=0o700)
        st = os.lstat(root)
    except (ImportError, KeyError, OSError):
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return root


def _socket_name(version):
    """``d-<agent version>-<host id>.sock``: the host id tells apart the machines, namespaces
    (containers, network namespaces) and interpreters that may share one home directory."""
    parts = [sys.executable, sys.version, os.uname()[1]]
    for ns in ("mnt", "net", "uts", "pid", "ipc", "user"):
        try:
            parts.append(os.readlink("/proc/self/ns/" + ns))
        except OSError:
            pass
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            parts.append(f.read().strip())
    except OSError:
        pass
    parts += sorted(k + "=" + v for k, v in os.environ.items() if k.startswith("PYTHON"))
    h = 0xCBF29CE484222325  # FNV-1a, 64 bits: no hashlib to import
    for b in "\0".join(parts).encode("utf-8", "surrogateescape"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "d-%s-%016x.sock" % (version, h)


def _connect(name):
    """A connection to the daemon listening on ``name`` (in the cwd), or None."""
    import _socket
    import stat

    try:
        st = os.lstat(name)
    except OSError:
        return None
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
        return None
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(name)
    except OSError:
        s.close()
        return None
    return s


def _start(name, idle, packed, code=""):
    """Start the daemon (one at a time: its lock file ``<name>.lock`` is locked meanwhile;
    hosts sharing the home start theirs at once), connected to once it listens; None if it
    could not start."""
    import fcntl

    try:
        lock = os.open(name[:-5] + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sock = _connect(name)  # started by another client meanwhile
        if sock is not None:
            return sock
        try:
            os.unlink(name)  # its daemon is gone (killed, host rebooted)
        except OSError:
            pass
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # detached: own session, no terminal, stdio on /dev/null
            try:
                os.setsid()
                if os.fork() == 0:
                    devnull = os.open(os.devnull, os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(devnull, fd)
                    os.close(devnull)
                    os.close(lock)  # held by the relay only
                    os.close(r)
                    # the daemon is this process (no new interpreter to start): with the
                    # site-packages a plain ``python3`` has (modules import from them)
                    import site

                    site.main()
                    sys.argv = ["-c", packed, "daemon", name, idle, str(w)]
                    if code:  # compiled by the controller for this Python: not compiled here
                        import base64
                        import marshal
                        import zlib

                        exec(marshal.loads(zlib.decompress(base64.b64decode(code))),
                             {"__name__": "__main__", "__builtins__": __builtins__})
                    else:
                        exec(_BOOT, {"__name__": "__main__", "__builtins__": __builtins__})
            finally:
                os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        ready = os.read(r, 1)  # written once it listens; nothing if it died
        os.close(r)
        return _connect(name) if ready else None
    finally:
        os.close(lock)


def _header(kind, fields=()):
    body = b"\0".join([kind] + list(fields))
    return len(body).to_bytes(4, "big") + body


def _fetch():
    """The packed agent, asked of the controller (most sessions go to a running daemon: the
    relay's command carries it only when there is none, ``idle`` 0): the frame ``{"send":
    "agent", "tag", "magic"}`` on stdout, before the hello; the controller answers with a
    frame of it, followed (after a space) by its code compiled, packed alike, when its
    Python has this one's bytecode cache tag and magic number."""
    magic = getattr(sys.modules.get("_frozen_importlib_external"), "MAGIC_NUMBER", b"")
    tag = getattr(sys.implementation, "cache_tag", None) or ""
    os.write(1, _header(b'{"send": "agent", "tag": "%s", "magic": "%s"}' % (
        tag.encode(), bytes(magic).hex().encode())))
    data, size = b"", None
    while size is None or len(data) < 4 + size:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            os._exit(1)  # the controller went away
        data += chunk
        if size is None and len(data) >= 4:
            size = int.from_bytes(data[:4], "big")
    return data[4:].decode()


def relay():
    """Run by ``python3 -S -c`` over SSH with argv ``version idle [packed-agent]``: hand this
    session's stdin/stdout/stderr to a child of the host's daemon (started if absent, with
    the agent asked of the controller when it did not come with the command), then wait for
    it to end; without a private cache dir (or daemons, ``idle`` 0) run the agent in a
    Python of its own, as a session of its own."""
    import _socket

    version, idle = sys.argv[1:3]
    packed = sys.argv[3] if len(sys.argv) > 3 else None
    root = _cache_root()
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    sock = None
    if root is not None and float(idle) > 0 and cwd:
        os.chdir(root)  # relative socket names: no length limit from the home's path
        name = _socket_name(version)
        sock = _connect(name)
        if sock is None:
            code = ""
            if not packed:
                packed, _, code = _fetch().partition(" ")
            sock = _start(name, idle, packed, code)
    if sock is not None:
        umask = os.umask(0)
        os.umask(umask)
        env = [k + b"=" + v for k, v in os.environb.items()]
        head = _header(b"run", [idle.encode(), os.fsencode(cwd), b"%o" % umask] + env)
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
        try:
            sock.sendmsg([head], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
            ack = sock.recv(1)
        except OSError:
            ack = b""
        if ack == b"k":  # the daemon's child serves this session from now on
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            code = sock.recv(1)  # its exit code, when it ends
            os._exit(code[0] if code else 1)
        sock.close()
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir(os.path.dirname(os.path.dirname(root)))  # the home
    os.execv(sys.executable, [sys.executable, "-c", _BOOT, packed or _fetch().partition(" ")[0]])


def stop():
    """Run by ``python3 -S -c``: ask every daemon of this user on this host to exit (the
    sessions they serve go on until their client closes them)."""
    root = _cache_root()
    if root is None:
        return
    os.chdir(root)
    for name in os.listdir("."):
        if name.startswith("d-") and name.endswith(".sock"):
            sock = _connect(name)
            if sock is not None:
                try:
                    sock.sendall(_header(b"stop"))
                    sock.recv(1)
                except OSError:
                    pass
                sock.close()


# -- end of relay -------------------------------------------------------------------------------

import atexit  # noqa: E402 - after the relay, which imports nothing else
import base64  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402
import struct  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
import zipfile  # noqa: E402
import zipimport  # noqa: E402
import zlib  # noqa: E402

KEEP = 32  # module libraries kept per user on a host (the least recently used go first)


def _read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _send(fd, obj):
    data = json.dumps(obj).encode("utf-8", "surrogateescape")
    data = struct.pack(">I", len(data)) + data
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _zip_first(zip_path, found={}):
    """The ``_ZipFirst`` of ``zip_path`` (one per library and process: its importers read
    the zip's directory once)."""
    finder = found.get(zip_path)
    if finder is None:
        finder = found[zip_path] = _ZipFirst(zip_path)
    return finder


class _ZipFirst(object):
    """Finds ``ansible.*`` / ``ansible_collections.*`` modules in this task's library first.

    The parent imported ``ansible.module_utils`` from the first library it ran; another
    module's library holds other files (its own module, other module_utils), which the
    packages imported from the first library would not find through their ``__path__``."""

    def __init__(self, zip_path):
        self.zip_path = zip_path
        self.importers = {}

    def find_spec(self, fullname, path=None, target=None):
        parts = fullname.split(".")
        if parts[0] not in ("ansible", "ansible_collections"):
            return None
        where = os.path.join(self.zip_path, *parts[:-1])
        importer = self.importers.get(where)
        if importer is None:
            try:
                importer = zipimport.zipimporter(where)
            except zipimport.ZipImportError:
                importer = False
            self.importers[where] = importer
        if not importer:
            return None
        if hasattr(importer, "find_spec"):
            return importer.find_spec(fullname)
        loader = importer.find_module(fullname)  # Python < 3.10
        if loader is None:
            return None
        return importlib.util.spec_from_loader(
            fullname, loader, is_package=loader.is_package(fullname))


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _parse_name(name):
    """(key, digest) of a library file name ``<key>-<python tag>-<digest>.zip``, or None."""
    suffix = "-" + sys.implementation.cache_tag + "-"
    if not name.endswith(".zip") or suffix not in name or name.startswith("."):
        return None
    key, _, digest = name[:-4].rpartition(suffix)
    return (key, digest) if key and len(digest) == 32 else None


def _verified(path):
    """Are the bytes of library ``path`` those its name says (the sha256 in it)?"""
    parsed = _parse_name(os.path.basename(path))
    try:
        with open(path, "rb") as f:
            return parsed is not None and _sha256(f.read())[:32] == parsed[1]
    except OSError:
        return False


def _stamp(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime)


def _pyc(source, filename):
    """Bytecode of ``source`` as an unchecked hash-based ``.pyc`` (PEP 552), or None."""
    if sys.version_info < (3, 8):  # zipimport reads hash-based .pyc from 3.8 on
        return None
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None  # imported from source, failing as it would from ansible-core's zip
    return _pyc_bytes(importlib.util.source_hash(source), code)


def _pyc_bytes(source_hash, code):
    """An unchecked hash-based ``.pyc`` (PEP 552) of ``code``, compiled from a source of
    ``source_hash``."""
    import marshal

    return importlib.util.MAGIC_NUMBER + struct.pack("<I", 0b01) + source_hash + \
        marshal.dumps(code)


def _shipped_code(bytecode):
    """The bytecode the controller compiled for a library's ``.py`` files (``{"tag",
    "magic", "sha256", "data"}``: base64 of zlib of a marshalled ``{name in the zip:
    (source hash, marshalled code)}``), when it is what this Python would make (same cache
    tag and magic number) and its bytes hash to the sha256 sent with them; else {}."""
    import marshal

    if not bytecode or sys.version_info < (3, 8):
        return {}
    if bytecode.get("tag") != sys.implementation.cache_tag or \
            bytecode.get("magic") != importlib.util.MAGIC_NUMBER.hex():
        return {}
    try:
        raw = base64.b64decode(bytecode["data"])
        if _sha256(raw) != bytecode.get("sha256"):
            return {}
        files = marshal.loads(zlib.decompress(raw))
    except (KeyError, TypeError, ValueError, EOFError, zlib.error):
        return {}
    return files if isinstance(files, dict) else {}


def _renamed(code, filename):
    """``code`` and the functions and classes in it, said to come from ``filename``
    (CPython renames them in place, as its importers do for bytecode found elsewhere)."""
    try:
        import _imp

        _imp._fix_co_filename(code, filename)
        return code
    except (ImportError, AttributeError):
        pass
    consts = tuple(_renamed(c, filename) if isinstance(c, type(code)) else c
                   for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _shipped_pyc(entry, source, filename):
    """A ``.pyc`` (as :func:`_pyc` makes) of the shipped ``entry`` (source hash, marshalled
    code) if it was compiled from ``source``; None otherwise (compiled here then)."""
    import marshal

    try:
        digest, data = entry
        if digest != importlib.util.source_hash(source):
            return None
        code = marshal.loads(data)
        if not isinstance(code, type(_renamed.__code__)):
            return None
        code = _renamed(code, filename)
    except (TypeError, ValueError, EOFError):
        return None
    return _pyc_bytes(digest, code)


_INFOS = {}  # library file built by this process -> {name in it: (CRC, size)}


def _zip_infos(path):
    """{name: (CRC, size)} of the files in the zip ``path`` (kept from the build for the
    libraries this process built; OSError or BadZipfile when it cannot be read)."""
    infos = _INFOS.get(path)
    if infos is None:
        with zipfile.ZipFile(path) as z:
            infos = dict((i.filename, (i.CRC, i.file_size)) for i in z.infolist())
    return infos


def _stored_zip(entries):
    """The bytes of a zip archive of ``entries`` ((name, date_time, data, CRC-32 of data), in
    this order), stored uncompressed: what ``zipfile`` writes, without its per-file cost (a
    library has hundreds of files); ``zipfile`` itself beyond the plain zip format's limits."""
    if len(entries) > 0xFFFF:
        return _zipfile_zip(entries)
    local_header, central_header = struct.Struct("<4s5H3L2H"), struct.Struct("<4s6H3L5H2L")
    local, central, offset, dos = [], [], 0, {}
    for name, date_time, data, crc in entries:
        raw = name.encode("utf-8")
        flags = 0 if len(raw) == len(name) else 0x800  # UTF-8 names flagged, as zipfile does
        when = dos.get(date_time)
        if when is None:
            year, month, day, hour, minute, second = date_time[:6]
            when = dos[date_time] = (hour << 11 | minute << 5 | second // 2,
                                     (year - 1980) << 9 | month << 5 | day)
        size = len(data)
        if offset + size + len(raw) + 30 > 0x7FFFFFFF:
            return _zipfile_zip(entries)
        local += [local_header.pack(b"PK\x03\x04", 20, flags, 0, when[0], when[1], crc, size,
                                    size, len(raw), 0), raw, data]
        central += [central_header.pack(b"PK\x01\x02", 0x314, 20, flags, 0, when[0], when[1],
                                        crc, size, size, len(raw), 0, 0, 0, 0, 0o600 << 16,
                                        offset), raw]
        offset += 30 + len(raw) + size
    directory = b"".join(central)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(directory), offset, 0)
    return b"".join(local) + directory + end


def _zipfile_zip(entries):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, date_time, data, _ in entries:
            z.writestr(zipfile.ZipInfo(name, date_time), data)
    return out.getvalue()


class _Libraries(object):
    """The module libraries this agent uses: from the host's cache (checked once per
    process) or built from the zip the controller sent.

    A library is the module's zip plus bytecode for every ``.py`` in it, one file named
    ``<key>-<python tag>-<sha256 of its bytes>.zip``: a file is never changed once in place,
    and a damaged one does not match its name."""

    def __init__(self, work):
        self.root = _cache_root()
        self.work = work  # a private directory (libraries built without a cache)
        self.paths = {}  # key -> library file used by this process
        self.stamps = {}  # library file -> its (inode, size, mtime) when checked
        self.opened = {}  # library file -> its ZipFile (bytecode reused by the next one)
        self.bad = {}  # library file -> its stamp, when found damaged
        self.built = None  # {"shipped": n, "compiled": n}: bytecode of the last library built
        self.pycs = {}  # (name in the zip, source) -> bytecode, of the libraries built here
        self.made = set()  # the library files built here (their bytecode is in pycs)

    def present(self):
        if self.root is None:
            return []
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        return sorted(set(p[0] for p in map(_parse_name, names) if p))

    def _cached(self, key):
        """The newest library file of ``key`` in the cache that matches its name."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return None
        paths = [os.path.join(self.root, n) for n in names if (_parse_name(n) or ("",))[0] == key]
        paths.sort(key=lambda p: os.stat(p).st_mtime, reverse=True)
        for path in paths:
            if _verified(path):
                return path
            try:
                os.unlink(path)  # damaged: never used again
            except OSError:
                pass
        return None

    def path(self, key, zip_data, bytecode=None):
        """The library file of ``key``; None when it must be sent (``zip_data``, with the
        ``bytecode`` the controller compiled for it, see :func:`_shipped_code`)."""
        path = self.paths.get(key)
        if path is not None and self.stamps.get(path) == _stamp(path):
            return path
        self.paths.pop(key, None)  # removed or changed since: checked again
        if "/" in key or key.startswith(".") or "-" in key:
            raise ValueError("bad library key " + repr(key))
        path = self._cached(key) if self.root is not None else None
        if path is not None:
            try:
                os.utime(path)  # recently used: kept by _prune
            except OSError:
                pass
        elif zip_data:
            path = self._build(key, base64.b64decode(zip_data), _shipped_code(bytecode))
            if self.root is not None:
                self._prune()
        else:
            return None
        self.paths[key] = path
        self.stamps[path] = _stamp(path)
        self.opened.pop(path, None)
        return path

    def _same_bytecode(self, name, source):
        """The bytecode of ``name`` in a library already in use, if its source is ``source``
        (those built here are in ``pycs``, looked up first by ``_build``)."""
        for path in list(self.paths.values()):
            if path in self.made:
                continue
            z = self.opened.get(path)
            if z is None:
                try:
                    z = self.opened[path] = zipfile.ZipFile(path)
                except (OSError, zipfile.BadZipfile):
                    continue
            try:
                if z.read(name) == source:
                    return z.read(name + "c")
            except (KeyError, OSError, zipfile.BadZipfile):
                continue
        return None

    def _build(self, key, data, shipped):
        if self.root is not None and not os.path.isdir(self.root):
            self.root = _cache_root()  # deleted meanwhile: made again (private) or not used
        parent = self.root or self.work
        stable = os.path.join(parent, key + "-" + sys.implementation.cache_tag + ".zip")
        self.built = {"shipped": 0, "compiled": 0}
        entries = []
        with zipfile.ZipFile(io.BytesIO(data)) as src:
            for info in src.infolist():
                source = src.read(info)  # its CRC checked
                entries.append((info.filename, info.date_time, source, info.CRC))
                if info.filename.endswith(".py"):
                    known = self.pycs.get((info.filename, source))
                    if known is not None:
                        entries.append((info.filename + "c", info.date_time) + known)
                        continue
                    # tracebacks name the file as importing from the zip would
                    filename = os.path.join(stable, info.filename)
                    pyc = self._same_bytecode(info.filename, source)
                    if pyc is None and info.filename in shipped:
                        pyc = _shipped_pyc(shipped[info.filename], source, filename)
                        self.built["shipped"] += pyc is not None
                    if pyc is None:
                        pyc = _pyc(source, filename)
                        self.built["compiled"] += pyc is not None
                    if pyc:
                        known = self.pycs[(info.filename, source)] = (pyc, zlib.crc32(pyc))
                        entries.append((info.filename + "c", info.date_time) + known)
        body = _stored_zip(entries)
        path = stable[:-4] + "-" + _sha256(body)[:32] + ".zip"
        fd, tmp = tempfile.mkstemp(prefix=".new-", dir=parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            os.rename(tmp, path)  # same name = same bytes: replacing one changes nothing
        except BaseException:
            os.unlink(tmp)
            raise
        self.made.add(path)
        _INFOS[path] = dict((e[0], (e[3], len(e[2]))) for e in entries)
        return path

    def _prune(self):
        """Remove all but the ``KEEP`` most recently used libraries (never one in use), what
        an interrupted write left an hour ago or more, and daemons' lock files unused for a
        week (other agent versions, boots)."""
        try:
            stamps = dict((os.path.join(self.root, n), os.stat(os.path.join(self.root, n)).st_mtime)
                          for n in os.listdir(self.root))
        except OSError:
            return
        libs = sorted((p for p in stamps if _parse_name(os.path.basename(p))),
                      key=stamps.get, reverse=True)
        old = [p for p in stamps if os.path.basename(p).startswith(".new-")
               and stamps[p] < time.time() - 3600]
        old += [p for p in stamps if p.endswith(".lock") and stamps[p] < time.time() - 604800
                and p[:-5] + ".sock" not in stamps]
        in_use = set(self.paths.values())
        for path in libs[KEEP:] + old:
            if path not in in_use:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _exit_code(exc):
    """The exit status of a process ending with ``SystemExit`` ``exc`` (its message printed)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    sys.stderr.write(str(exc.code) + "\n")
    return 1


def _run(req, zip_path, exitfuncs):
    """Run the module of ``req`` as the AnsiballZ wrapper's ``python`` process would (stdout
    and stderr already where they go); its exit status, once ``exitfuncs`` ran (the
    interpreter's exit: what the module registered with ``atexit``)."""
    code = 1
    try:
        os.environ.update(req.get("env") or {})
        rlimit = req.get("rlimit")
        if rlimit:
            import resource

            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            wanted = min(hard, rlimit)
            if wanted != soft:
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
                except ValueError:
                    pass
        sys.argv = [""]
        sys.path.insert(0, zip_path)
        sys.meta_path.insert(0, _zip_first(zip_path))
        from ansible.module_utils._internal._ansiballz import _loader

        _loader.run_module(
            json_params=req["params"].encode("utf-8", "surrogateescape"),
            profile=req["profile"],
            module_fqn=req["fqn"],
            modlib_path=zip_path,
            extensions=req.get("extensions") or {},
        )
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:  # what the interpreter would print for an uncaught exception
        traceback.print_exc()
        code = 1
    finally:
        try:
            exitfuncs()  # modules clean their temporary files up at exit
        except BaseException:
            pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    return code & 0xFF


def _point_at(outputs):
    """Fds 1 and 2 of this process go to ``outputs`` (see ``_outputs``: two memfds, kept
    open, or two files, opened here)."""
    out, err = (o if isinstance(o, int) else
                os.open(o, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) for o in outputs)
    os.dup2(out, 1)
    os.dup2(err, 2)
    if not isinstance(outputs[0], int):
        os.close(out)
        os.close(err)


def _child(req, zip_path, outputs, learn_path=None):
    """Run the module of ``req`` in this (forked) process, its stdout and stderr going to
    ``outputs`` (see ``_outputs``), then exit."""
    code = 1
    before = frozenset(sys.modules)
    try:
        _point_at(outputs)
        code = _run(req, zip_path, atexit._run_exitfuncs)
    finally:
        if learn_path:
            try:
                _tell_imports(before, learn_path)
            except BaseException:
                pass
        os._exit(code)


# modules run in the session's process, without a fork (read for what they change in their
# process: files, cwd (command's chdir), locale and its variables, umask (read), atexit
# (module.tmpdir), subprocesses run and waited for; never signals, threads, os._exit, forks
# of their own, or imports that probe for what a task may install)
IN_PROCESS = frozenset("ansible.modules." + name for name in (
    "ping", "stat", "file", "copy", "command", "lineinfile", "slurp", "replace", "blockinfile"))


class _Saved(object):
    """What a module run in this process may change in it, saved before and put back after:
    the module's next run (and the agent) finds the process as a fork would have left it."""

    def __init__(self):
        import _signal
        import locale

        self.locale, self.signal = locale, _signal
        self.umask = os.umask(0o077)
        os.umask(self.umask)
        self.environ = _environ_copy()
        self.lc = locale.setlocale(locale.LC_ALL)
        self.handlers = [(n, _signal.getsignal(n)) for n in _SIGNALS]
        self.sys = [(name, getattr(sys, name)) for name in _SYS]
        self.lists = [(sys.path, list(sys.path)), (sys.meta_path, list(sys.meta_path))]
        self.modules = frozenset(sys.modules)
        self.globals = [(m, dict(m.__dict__)) for m in _ansible_modules()]
        from ansible.module_utils.common import warnings as ansible_warnings

        self.collectors = [(c, list(c.items()) if isinstance(c, dict) else list(c))
                           for c in (ansible_warnings._global_warnings,
                                     ansible_warnings._global_deprecations)]
        self.warning_filters = list(warnings.filters)
        self.tempdir = tempfile.tempdir
        self.nofile = None
        try:
            import resource

            self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
        except (ImportError, OSError, ValueError):
            pass
        self.cwd = os.open(".", getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
        self.exitfuncs = []
        self.atexit = (atexit.register, atexit.unregister)
        atexit.register, atexit.unregister = self._register, self._unregister

    def _register(self, func, *args, **kwargs):
        self.exitfuncs.append((func, args, kwargs))
        return func

    def _unregister(self, func):
        self.exitfuncs[:] = [f for f in self.exitfuncs if f[0] != func]

    def run_exitfuncs(self):
        """What the interpreter does at exit with the functions registered meanwhile."""
        while self.exitfuncs:
            func, args, kwargs = self.exitfuncs.pop()
            try:
                func(*args, **kwargs)
            except SystemExit:
                pass
            except BaseException as exc:
                sys.unraisablehook(sys.UnraisableHookArgs((
                    type(exc), exc, exc.__traceback__, "Exception ignored in atexit callback",
                    func)))

    def restore(self):
        atexit.register, atexit.unregister = self.atexit
        self.exitfuncs = []
        os.fchdir(self.cwd)
        os.close(self.cwd)
        os.umask(self.umask)
        if _environ_copy() != self.environ:
            tz = os.environ.get("TZ")
            environ = os.environ
            if self.environ and isinstance(next(iter(self.environ)), bytes):
                environ = os.environb  # the same variables, as os.environ holds them
            environ.clear()
            environ.update(self.environ)
            if tz != os.environ.get("TZ"):
                time.tzset()
        locale = self.locale
        if locale.setlocale(locale.LC_ALL) != self.lc:
            locale.setlocale(locale.LC_ALL, self.lc)
        for n, handler in self.handlers:
            if self.signal.getsignal(n) is not handler and handler is not None:
                self.signal.signal(n, handler)
        for name, value in self.sys:
            setattr(sys, name, value)
        if self.nofile is not None:
            import resource

            if resource.getrlimit(resource.RLIMIT_NOFILE) != self.nofile:
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)
                except (OSError, ValueError):
                    pass
        for collector, items in self.collectors:  # a dict (ansible-core 2.19), else a list
            collector.clear()
            (collector.update if isinstance(collector, dict) else collector.extend)(items)
        warnings.filters[:] = self.warning_filters
        getattr(warnings, "_filters_mutated", lambda: None)()  # "once" warnings: shown again
        tempfile.tempdir = self.tempdir
        if "syslog" in sys.modules:
            sys.modules["syslog"].closelog()  # openlog'ed by the module (ident, fd)
        # what a fork would not have kept: modules imported by this one but the standard
        # library's and ansible's (module_utils stay imported: IN_PROCESS modules import
        # none that probe at import time); every module's globals as they were
        new = set()
        for name in list(sys.modules):
            if name not in self.modules:
                if _preloadable(name) or name.split(".")[0] == "ansible":
                    new.add(name)
                else:
                    del sys.modules[name]
        for items, value in self.lists:
            # a finder added by a module imported meanwhile (and kept) stays: its imports use it
            items[:] = value + [f for f in items if f not in value and not isinstance(f, str)
                                and getattr(type(f), "__module__", None) in new]
        for module, saved in self.globals:
            now = module.__dict__
            if now == saved:
                continue
            for key in [k for k in now if k not in saved]:
                value = now[key]
                if not (isinstance(value, type(sys)) and sys.modules.get(value.__name__) is value):
                    del now[key]  # a kept submodule stays its package's attribute
            for key, value in saved.items():
                if now.get(key, now) is not value:
                    now[key] = value


def _environ_copy():
    """This process's environment variables, as they are now (a copy)."""
    data = getattr(os.environ, "_data", None)  # what os.environ holds (bytes on POSIX)
    return dict(data) if isinstance(data, dict) else dict(os.environ)


_ANSIBLE = {"count": None, "modules": []}


def _ansible_modules():
    """The ``ansible*`` modules imported in this process (looked for again when the number
    of modules imported or the ``basic`` imported changed)."""
    count = (len(sys.modules), id(sys.modules.get("ansible.module_utils.basic")))
    if _ANSIBLE["count"] != count:
        _ANSIBLE["modules"] = [m for name, m in list(sys.modules.items())
                               if name.split(".")[0] in ("ansible", "ansible_collections")
                               and isinstance(m, type(sys))]
        _ANSIBLE["count"] = count
    return _ANSIBLE["modules"]


# the signals whose handlers are saved around a module run in this process
_SIGNALS = ()
_SYS = ("argv", "stdin", "stdout", "stderr", "excepthook", "displayhook", "unraisablehook")


_CODE = {}  # (library, module name) -> runpy's (name, spec, code) of a module run here


def _in_process(req, zip_path, outputs):
    """Run the module of ``req`` in this process (``IN_PROCESS``), its stdout and stderr
    going to ``outputs``; its exit status, the process left as it was (``_Saved``); None
    when it cannot run here (the caller forks)."""
    global _SIGNALS
    if sys.version_info < (3, 8) or req["fqn"] not in IN_PROCESS or req.get("extensions") \
            or req.get("fork"):
        return None
    if not _SIGNALS:
        import signal

        _SIGNALS = tuple(n for n in signal.valid_signals()
                         if n not in (signal.SIGKILL, signal.SIGSTOP) and n < signal.NSIG)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        saved = _Saved()
    except Exception:  # noqa: BLE001 - e.g. a working directory this process cannot open
        return None
    import runpy

    details = getattr(runpy, "_get_module_details", None)  # what runpy.run_module runs
    if details is not None:
        def cached(mod_name, error=ImportError):
            """The module's spec and code object, read once per library and process."""
            key = (zip_path, mod_name)
            found = _CODE.get(key)
            if found is None:
                found = _CODE[key] = details(mod_name, error)
            return found

        runpy._get_module_details = cached
    fds = [os.dup(1), os.dup(2)]
    code = 1
    try:
        _point_at(outputs)
        code = _run(req, zip_path, saved.run_exitfuncs)
    finally:
        if details is not None:
            runpy._get_module_details = details
        saved.restore()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            os.close(fd)
    if saved.modules != frozenset(sys.modules) and _WARM["path"] is not None:
        # what it imported from its library is checked too before another library's modules
        # run with it (as _preload does)
        _WARM.update(files=dict(_WARM["files"] or {}, **(_modules_from(zip_path) or {})),
                     same={zip_path: True})
    return code


# imported by a module but never by the agent before it forks modules: import-time actions
_NEVER_PRELOAD = frozenset({"this", "antigravity", "__hello__", "__phello__", "idlelib", "tkinter",
                            "turtle", "turtledemo"})


def _preloadable(name):
    """Can the agent import ``name`` before forking the next modules (a module imported it):
    the standard library, ansible-core's JSON profiles and the ``ansible.modules`` package;
    never what probes at import time for what a task may install (other module_utils)."""
    if name == "ansible.modules" or name.startswith("ansible.module_utils._internal._json._profiles."):
        return True
    top = name.split(".")[0]
    return top in getattr(sys, "stdlib_module_names", ()) and top not in _NEVER_PRELOAD


def _tell_imports(before, learn_path):
    """Name in ``learn_path`` what this module imported that its agent may import."""
    names = [n for n in sys.modules if n not in before and _preloadable(n)]
    if names:
        with open(learn_path, "w") as f:
            f.write("\n".join(names))


def _preload(learn_path):
    """Import in the parent what the last module imported (``_tell_imports``): the next
    children start with it, as they start with ``basic``."""
    try:
        with open(learn_path) as f:
            names = f.read().split()
        os.unlink(learn_path)
    except OSError:
        return
    lib_path = _WARM["path"]
    if lib_path is None:
        return
    sys.path.insert(0, lib_path)
    try:
        for name in names:
            if name not in sys.modules and _preloadable(name):
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - the module imports it itself
                    pass
    finally:
        sys.path.remove(lib_path)
    _WARM.update(files=_modules_from(lib_path), same={lib_path: True})


def _modules_from(lib_path):
    """Source files (name in the zip -> (crc, size)) of the modules imported from ``lib_path``."""
    prefix = lib_path + os.sep
    used = set()
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None) or ""
        if name.startswith(prefix):
            name = name[len(prefix):]
            used.add(name[:-1] if name.endswith(".pyc") else name)
    try:
        return dict(item for item in _zip_infos(lib_path).items() if item[0] in used)
    except (OSError, zipfile.BadZipfile):
        return None


# the library this process imported ansible's module_utils from, and what it imported
_WARM = {"path": None, "files": None, "same": {}}


def _warm(lib_path):
    """Import what every module imports, once, in the parent (children inherit it)."""
    sys.path.insert(0, lib_path)
    try:
        import ansible.module_utils.basic  # noqa: F401
        from ansible.module_utils._internal._ansiballz import _loader  # noqa: F401
    except BaseException:
        pass
    finally:
        sys.path.remove(lib_path)
    _WARM.update(path=lib_path, files=_modules_from(lib_path), same={lib_path: True})


def _warm_locale(loaded=set()):
    """Have glibc load, once per process and locale, the locale every AnsibleModule sets
    from its environment (``setlocale(LC_ALL, "")``): children find its files read. This
    process's own locale is left as it was."""
    key = tuple(sorted((k, v) for k, v in _environ_copy().items()
                       if k in ("LANG", b"LANG") or k[:3] in ("LC_", b"LC_")))
    if key in loaded:
        return
    loaded.add(key)
    try:
        import locale

        was = locale.setlocale(locale.LC_ALL)
        try:
            locale.setlocale(locale.LC_ALL, "")
        finally:
            locale.setlocale(locale.LC_ALL, was)
    except Exception:  # noqa: BLE001 - a locale the host lacks: the module tells
        pass


def _warm_for(lib_path):
    """Warm for ``lib_path``: what was imported from another library is kept only if that
    library holds the same files (another ansible-core's modules get their own imports)."""
    if _WARM["path"] is None:
        return _warm(lib_path)
    same = _WARM["same"].get(lib_path)
    if same is None:
        same = _WARM["files"] is not None
        try:
            infos = _zip_infos(lib_path)
            for name, crc_size in _WARM["files"].items():
                if infos.get(name, crc_size) != crc_size:
                    same = False
                    break
        except (OSError, zipfile.BadZipfile, AttributeError):
            same = False
        _WARM["same"][lib_path] = same
    if not same:
        for name in list(sys.modules):
            if name.split(".")[0] in ("ansible", "ansible_collections"):
                del sys.modules[name]
        _warm(lib_path)


COMMANDS = ("sh", "put", "mkdtemp", "rmtree", "expanduser")  # requests _command answers


def _b64(text):
    return base64.b64encode(text.encode("utf-8", "surrogateescape")).decode()


def _expanded(path):
    """``path`` with a leading ``~`` or ``~user`` expanded as ``echo ~user`` would (left as
    it is for an unknown user), joined to the rest as ansible-core joins them."""
    if not path.startswith("~"):
        return path
    head, sep, rest = path.partition("/")
    home = os.path.expanduser(head)
    return os.path.join(home, rest) if sep else home


def _mkdtemp(req):
    """ansible-core's ``( umask 77 && mkdir -p BASE && mkdir BASE/NAME && echo NAME=BASE/NAME )``
    for ``{"mkdtemp": NAME, "tmpdir": BASE, "system_tmpdirs": [...]?}`` (BASE may start with
    ``~``; system: BASE only if it is one of them, else the first)."""
    name, base = req["mkdtemp"], _expanded(req["tmpdir"] or "")
    system = req.get("system_tmpdirs")
    if system:
        base = base.rstrip("/") if base.rstrip("/") in system else system[0]
    path = os.path.join(base, name)
    old = os.umask(0o077)
    try:
        os.makedirs(base, exist_ok=True)
        os.mkdir(path)
    except OSError as exc:
        return {"rc": 1, "stdout": "", "stderr": _b64("mkdir: %s\n" % exc)}
    finally:
        os.umask(old)
    return {"rc": 0, "stdout": _b64("%s=%s\n" % (name, path)), "stderr": ""}


def _rmtree(path):
    """``rm -f -r PATH``: as much as can be removed; rc 1 when something was left."""
    failed = []
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, onerror=lambda _f, where, info: failed.append((where, info[1])))
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            failed.append((path, exc))
    errors = "".join("rm: cannot remove '%s': %s\n" % (where, getattr(exc, "strerror", None) or exc)
                     for where, exc in failed)
    return {"rc": 1 if failed else 0, "stdout": "", "stderr": _b64(errors)}


def _command(req):
    """``{"sh": command, "stdin": b64}``: the command run by /bin/sh, as ssh would run it;
    ``{"put": path, "data": b64}``: the file written; ``mkdtemp``, ``rmtree``, ``expanduser``:
    see the module's docstring. Output base64-encoded, exact bytes."""
    import subprocess

    if "mkdtemp" in req:
        return _mkdtemp(req)
    if "rmtree" in req:
        return _rmtree(req["rmtree"])
    if "expanduser" in req:
        return {"rc": 0, "stdout": _b64(_expanded(req["expanduser"]) + "\n"), "stderr": ""}
    if "put" in req:
        try:
            with open(req["put"], "wb") as f:
                f.write(base64.b64decode(req["data"]))
        except OSError as exc:
            return {"rc": 1, "stdout": "", "stderr": _b64(str(exc))}
        return {"rc": 0, "stdout": "", "stderr": ""}
    # what sshd runs: the user's login shell with -c (not /bin/sh: raw tasks see bash)
    try:
        import pwd

        shell = pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
    except KeyError:
        shell = "/bin/sh"
    argv = [shell, "-c", req["sh"]]
    if req.get("tty"):
        rc, out = _in_tty(argv)
        return {"rc": rc, "stdout": base64.b64encode(out).decode(), "stderr": ""}
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = proc.communicate(base64.b64decode(req.get("stdin") or ""))
    return {"rc": proc.returncode, "stdout": base64.b64encode(out).decode(),
            "stderr": base64.b64encode(err).decode()}


def _in_tty(argv):
    """``argv`` run on a new pseudo-terminal as its controlling terminal, as sshd runs a
    command for ``ssh -tt`` (ansible-core's ssh plugin: commands without input data): one
    output stream (stderr on it too, ``\\n`` written as ``\\r\\n``); ends when the command
    does (what is still running there gets the terminal's hangup)."""
    import pty
    import select
    import subprocess
    import termios
    import fcntl

    master, slave = pty.openpty()

    def controlling():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                start_new_session=True, preexec_fn=controlling)
    finally:
        os.close(slave)
    chunks = []
    try:  # the command's end is readable too where the kernel says it (Linux >= 5.3)
        exited = [os.pidfd_open(proc.pid)]
    except (AttributeError, OSError):
        exited = []
    try:
        while True:
            done = proc.poll() is not None
            wait = 0 if done else (None if exited else 0.05)
            ready, _, _ = select.select([master] + ([] if done else exited), [], [], wait)
            if master not in ready:
                if done:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                data = b""
            if not data:
                break
            chunks.append(data)
    finally:
        for fd in [master] + exited:
            os.close(fd)
    return proc.wait(), b"".join(chunks)


def _work_dir():
    """A private directory for this process (module output; libraries without a cache): under Ansible's remote_tmp (~/.ansible/tmp),
    else the system's temporary directory (a become user without a home)."""
    base = os.path.expanduser("~/.ansible/tmp")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        return tempfile.mkdtemp(prefix="enoslib-agent-", dir=base)
    except OSError:
        return tempfile.mkdtemp(prefix="enoslib-agent-")


def _serve(proto_in, proto_out, libs, daemon=None):
    """Answer the requests read from ``proto_in`` on ``proto_out`` until it ends.
    ``daemon``: said in the hello (None: a process of its own)."""
    work = _work_dir()
    libs.work = work
    try:
        try:
            os.getcwd()
        except OSError:
            os.chdir(os.path.expanduser("~"))
        _send(proto_out, {"hello": {"python": sys.executable, "version": list(sys.version_info[:3]),
                                    "pid": os.getpid(), "libs": libs.present(),
                                    "tag": sys.implementation.cache_tag,
                                    "magic": importlib.util.MAGIC_NUMBER.hex(),
                                    "daemon": daemon}})
        while True:
            head = _read_exact(proto_in, 4)
            if head is None:
                return
            body = _read_exact(proto_in, struct.unpack(">I", head)[0])
            if body is None:
                return
            _send(proto_out, _answer(json.loads(body.decode("utf-8", "surrogateescape")), libs))
    finally:
        shutil.rmtree(work, ignore_errors=True)


_MEMFDS = []  # this process's in-memory files for modules' stdout and stderr


def _outputs(work):
    """Where the next module's stdout and stderr go, empty: two in-memory files of this
    process (Linux), else two files in ``work``. A file on disk rewritten by every module
    costs a wait: ext4 flushes a truncated file on close, the next truncation waits for it."""
    if not _MEMFDS and hasattr(os, "memfd_create"):
        try:
            _MEMFDS.extend(os.memfd_create(name, getattr(os, "MFD_CLOEXEC", 1))
                           for name in ("enoslib-out", "enoslib-err"))
        except OSError:
            del _MEMFDS[:]
            _MEMFDS.append(None)  # not available here: files
    if _MEMFDS and _MEMFDS[0] is not None:
        for fd in _MEMFDS:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)  # the child writes at the offset it shares
        return list(_MEMFDS)
    return [os.path.join(work, "out"), os.path.join(work, "err")]


def _taken(output):
    """The bytes a module wrote to ``output`` (an in-memory file is emptied)."""
    if not isinstance(output, int):
        with open(output, "rb") as f:
            return f.read()
    chunks, offset = [], 0
    while True:
        chunk = os.pread(output, 1 << 20, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    os.ftruncate(output, 0)
    return b"".join(chunks)


def _answer(req, libs):
    """The answer to one request."""
    if any(k in req for k in COMMANDS):
        return _command(req)
    key = req["lib"]
    libs.built = None
    try:
        lib_path = libs.path(key, req.get("zip_data"), req.get("bytecode"))
    except Exception as exc:  # noqa: BLE001 - told to the controller
        return {"error": "cannot unpack module payload %s: %r" % (key, exc)}
    if lib_path is None:
        return {"need": key}
    built = libs.built
    _warm_for(lib_path)  # before the fork: every child starts warm
    _warm_locale()
    _zip_first(lib_path)
    outputs = _outputs(libs.work)
    rc = _in_process(req, lib_path, outputs)
    if rc is None:
        rc = _forked(req, lib_path, outputs, os.path.join(libs.work, "learn"))
    stdout, stderr = (_taken(o) for o in outputs)
    answer = {"rc": rc, "stdout": stdout.decode("utf-8", "surrogateescape"),
              "stderr": stderr.decode("utf-8", "surrogateescape")}
    if built is not None:
        answer["built"] = built
    return answer


def _forked(req, lib_path, outputs, learn_path):
    """Run the module of ``req`` in a child (``_child``); its exit status (negative: the
    signal that ended it). What it imported is imported here next (``_preload``)."""
    frozen = hasattr(gc, "freeze")
    if frozen:
        gc.freeze()  # the child's collections never visit (and copy) the parent's objects
    try:
        pid = os.fork()
        if pid == 0:
            _child(req, lib_path, outputs, learn_path)  # never returns
    finally:
        if frozen:
            gc.unfreeze()
    _, status = os.waitpid(pid, 0)
    rc = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else (
        -(status & 0x7F) if status & 0x7F else status >> 8)
    _preload(learn_path)
    return rc


def _check_cached(libs, warm=True):
    """Check (once per file) the newest library of each key in the cache, so that the
    sessions forked next use them without hashing them again; import ``basic`` from the
    most recently used one if not done yet (``warm``)."""
    try:
        names = [n for n in os.listdir(libs.root) if _parse_name(n)]
        stamps = dict((n, _stamp(os.path.join(libs.root, n))) for n in names)
    except OSError:
        return
    names = sorted((n for n in names if stamps[n]), key=lambda n: stamps[n][2], reverse=True)
    done = set()
    for name in names:
        key, path = _parse_name(name)[0], os.path.join(libs.root, name)
        if key in done:
            continue
        if libs.bad.get(path) == stamps[name]:
            continue  # damaged: the session that needs it builds it again
        if libs.stamps.get(path) == stamps[name] or _verified(path):
            done.add(key)
            libs.paths[key] = path
            libs.stamps[path] = stamps[name]
        else:
            libs.bad[path] = stamps[name]
    if warm and _WARM["path"] is None:
        for name in names:
            path = os.path.join(libs.root, name)
            if libs.stamps.get(path) == stamps[name]:
                _warm(path)
                return


class _Daemon(object):
    """Listens on ``name`` (a Unix socket in the private cache dir, the cwd); forks a child
    per client session (``relay``), which serves it as a process of its own would; exits
    once no session was open for ``idle`` seconds, when told to (``stop``), or when its
    socket is gone (cache dir removed, replaced by a newer daemon)."""

    def __init__(self, name, idle):
        import select
        import signal
        import socket

        self.select, self.signal, self.socket, self.time = select, signal, socket, time
        self.name, self.idle = name, idle
        self.libs = _Libraries(None)
        self.children = set()
        self.info = {"pid": os.getpid(), "started": time.time()}
        os.umask(0o077)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = ".%s.%d" % (name, os.getpid())
        self.listener.bind(tmp)
        self.listener.listen(128)
        os.rename(tmp, name)
        self.inode = os.stat(name).st_ino
        self.wake_r, self.wake_w = os.pipe()  # SIGCHLD wakes select up
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def ours(self):
        try:
            return os.stat(self.name).st_ino == self.inode
        except OSError:
            return False

    def run(self):
        last = self.time.monotonic()
        try:
            while True:
                self.reap()
                now = self.time.monotonic()
                if self.children:
                    last = now
                left = last + self.idle - now
                if (not self.children and left <= 0) or not self.ours():
                    return
                if _WARM["path"] is None and not self.children and self.libs.root is not None:
                    # the first sessions brought the first library: warm before the next
                    # ones, once they are gone (they import it themselves meanwhile)
                    _check_cached(self.libs)
                try:
                    ready = self.select.select([self.listener, self.wake_r], [], [],
                                               min(max(left, 0.01), 60.0))[0]
                except InterruptedError:
                    continue
                if self.wake_r in ready:
                    try:
                        os.read(self.wake_r, 4096)
                    except BlockingIOError:
                        pass
                if self.listener in ready and self.accept() == "stop":
                    return
        finally:
            if self.ours():
                os.unlink(self.name)
            self.listener.setblocking(False)  # clients that connected meanwhile are served
            while self.accept() in ("run", "stop"):
                pass
            self.listener.close()

    def reap(self):
        while self.children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)

    def accept(self):
        """Serve one client; "stop" when it asks the daemon to exit, None when none waits."""
        socket = self.socket
        try:
            conn = self.listener.accept()[0]
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return "error"
        fds = []
        try:
            conn.settimeout(10)
            data, ancillary, _, _ = conn.recvmsg(1 << 16, socket.CMSG_SPACE(3 * 4),
                                                 getattr(socket, "MSG_CMSG_CLOEXEC", 0))
            for level, kind, raw in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds += [int.from_bytes(raw[i:i + 4], sys.byteorder)
                            for i in range(0, len(raw) - len(raw) % 4, 4)]
            while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
                chunk = conn.recv(1 << 16)
                if not chunk:
                    raise OSError("header cut short")
                data += chunk
            fields = data[4:4 + int.from_bytes(data[:4], "big")].split(b"\0")
            if fields[0] == b"stop":
                return "stop"
            if fields[0] != b"run" or len(fds) != 3 or len(fields) < 4:
                return "error"
            self.idle = float(fields[1])
            if self.libs.root is not None:
                _check_cached(self.libs, warm=False)  # libraries built by sessions since
            info = dict(self.info, warm=_WARM["path"] is not None)
            pid = os.fork()
            if pid == 0:
                self._child(conn, fds, fields, info)
            self.children.add(pid)
            return "run"
        except (OSError, ValueError):
            return "error"
        finally:
            for fd in fds:
                os.close(fd)
            conn.close()

    def _child(self, conn, fds, fields, info):
        code = 1
        try:
            self.signal.set_wakeup_fd(-1)
            self.signal.signal(self.signal.SIGCHLD, self.signal.SIG_DFL)
            self.listener.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            self.libs.opened = {}  # never share a file offset with the daemon's other children
            os.environ.clear()  # the session's environment, as its own process would have
            for item in fields[4:]:
                key, _, value = item.partition(b"=")
                if key:
                    os.environb[key] = value
            os.umask(int(fields[3], 8))
            try:
                os.chdir(fields[2] or os.path.expanduser("~"))
            except OSError:
                os.chdir(os.path.expanduser("~"))
            os.dup2(fds[2], 2)
            conn.settimeout(None)
            conn.sendall(b"k")
            _serve(fds[0], fds[1], self.libs, info)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                conn.sendall(bytes([code]))
            except BaseException:
                pass
            os._exit(code)


def main():
    if sys.argv[2:3] == ["daemon"]:  # started by relay(): argv packed daemon name idle fd
        ready = int(sys.argv[5])
        try:
            daemon = _Daemon(sys.argv[3], float(sys.argv[4]))
            os.write(ready, b"k")  # listening: the client that started it connects
        finally:
            os.close(ready)
        daemon.run()
        return
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # modules (and what they run) never see the protocol's pipes
    os.dup2(devnull, 1)
    _serve(proto_in, proto_out, _Libraries(None))


if __name__ == "__main__":  # run by ``python -c``; importing this file does nothing
    main()
