"""The remote half of the module fast path: a Python process kept alive on each host.

This file is NOT imported by enoslib: :mod:`enoslib.api.modules` reads its text and starts
it on a host with ``python3 -c`` over the host's multiplexed SSH connection. Stdlib only,
Python >= 3.6 (what ansible-core's modules need on the targets anyway).

Protocol (stdin/stdout of the process, the SSH channel): frames of a 4-byte big-endian
length followed by that many bytes of JSON. The agent first sends ``{"hello": {...,
"libs": [key, ...]}}`` (the module libraries this host already holds); then for each request
``{"lib": key, "zip_data": b64?, "fqn", "params", "profile", "extensions", "env", "rlimit"}``
it answers ``{"rc", "stdout", "stderr"}``: what the AnsiballZ wrapper would have printed and
returned when run by ansible-core; or ``{"need": key}`` when it holds no valid library
``key`` and the request came without its zip.
Requests ``{"sh": command, "stdin"}`` and ``{"put": path, "data"}`` run a shell command / write a
file (base64 data and output), as the host's SSH connection would; ``{"mkdtemp": name, "tmpdir",
"system_tmpdirs"}``, ``{"rmtree": path}`` and ``{"expanduser": "~user"}`` do here what
ansible-core's POSIX shell plugin has ``/bin/sh`` do for its temporary directories and ``~``
(same directories, modes and output), without a shell.

Each module runs in a forked child, through ansible-core's own AnsiballZ loader
(``ansible.module_utils._internal._ansiballz._loader.run_module``), with the module's
library first on ``sys.path``. The parent imports ansible's module_utils once, so children
start warm: a module costs a fork, not a new interpreter that imports ``basic`` again.

Module libraries last between processes: the module's zip (ansible-core builds it on the
controller) is stored once per host and user, with bytecode for each of its ``.py`` files
(importing ``basic`` then costs half as much as from ansible-core's zip, where every file is
compiled again by every process), as ``~/.cache/enoslib-agent/<key>-<python tag>-<sha256>.zip``;
``key`` is a hash of the zip's files and of this agent's source (computed by the
controller), ``sha256`` the hash of the file's own bytes, checked before a process first
uses it: a damaged or half-written library is deleted and built again from the zip (asked
for with ``need``). The cache directory is the effective user's own (its passwd home, 0700,
owned by it) or none is used. Modules imported from a library have ``__file__`` ending in
``.pyc`` (the directory is the same).
"""

import base64
import hashlib
import importlib.util
import io
import json
import os
import shutil
import stat
import struct
import sys
import tempfile
import traceback
import zipfile
import zipimport

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


def _cache_root():
    """``~/.cache/enoslib-agent`` of the effective user (its passwd home: sudo may have kept
    the caller's $HOME), when it is private to that user; else None (no cache)."""
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
    import marshal

    if sys.version_info < (3, 8):  # zipimport reads hash-based .pyc from 3.8 on
        return None
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None  # imported from source, failing as it would from ansible-core's zip
    flags = struct.pack("<I", 0b01)
    return importlib.util.MAGIC_NUMBER + flags + importlib.util.source_hash(source) + \
        marshal.dumps(code)


class _Libraries(object):
    """The module libraries this agent uses: from the host's cache (checked once per
    process) or built from the zip the controller sent.

    A library is the module's zip plus bytecode for every ``.py`` in it, one file named
    ``<key>-<python tag>-<sha256 of its bytes>.zip``: a file is never changed once in place,
    and a damaged one does not match its name."""

    def __init__(self, work):
        self.root = _cache_root()
        self.work = work
        self.paths = {}  # key -> library file used by this process
        self.stamps = {}  # library file -> its (inode, size, mtime) when checked
        self.opened = {}  # library file -> its ZipFile (bytecode reused by the next one)

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

    def path(self, key, zip_data):
        """The library file of ``key``; None when it must be sent (``zip_data``)."""
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
            path = self._build(key, base64.b64decode(zip_data))
            if self.root is not None:
                self._prune()
        else:
            return None
        self.paths[key] = path
        self.stamps[path] = _stamp(path)
        self.opened.pop(path, None)
        return path

    def _same_bytecode(self, name, source):
        """The bytecode of ``name`` in a library already in use, if its source is ``source``."""
        for path in list(self.paths.values()):
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

    def _build(self, key, data):
        if self.root is not None and not os.path.isdir(self.root):
            self.root = _cache_root()  # deleted meanwhile: made again (private) or not used
        parent = self.root or self.work
        stable = os.path.join(parent, key + "-" + sys.implementation.cache_tag + ".zip")
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, \
                zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as lib:
            for info in src.infolist():
                source = src.read(info)
                lib.writestr(zipfile.ZipInfo(info.filename, info.date_time), source)
                if info.filename.endswith(".py"):
                    # tracebacks name the file as importing from the zip would
                    pyc = self._same_bytecode(info.filename, source) or \
                        _pyc(source, os.path.join(stable, info.filename))
                    if pyc:
                        lib.writestr(zipfile.ZipInfo(info.filename + "c", info.date_time), pyc)
        body = out.getvalue()
        path = stable[:-4] + "-" + _sha256(body)[:32] + ".zip"
        fd, tmp = tempfile.mkstemp(prefix=".new-", dir=parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            os.rename(tmp, path)  # same name = same bytes: replacing one changes nothing
        except BaseException:
            os.unlink(tmp)
            raise
        return path

    def _prune(self):
        """Remove all but the ``KEEP`` most recently used libraries (never one in use), and
        what an interrupted write left an hour ago or more."""
        import time

        try:
            stamps = dict((os.path.join(self.root, n), os.stat(os.path.join(self.root, n)).st_mtime)
                          for n in os.listdir(self.root))
        except OSError:
            return
        libs = sorted((p for p in stamps if _parse_name(os.path.basename(p))),
                      key=stamps.get, reverse=True)
        old = [p for p in stamps if os.path.basename(p).startswith(".new-")
               and stamps[p] < time.time() - 3600]
        in_use = set(self.paths.values())
        for path in libs[KEEP:] + old:
            if path not in in_use:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _child(req, zip_path, out_path, err_path):
    code = 1
    try:
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.close(out)
        os.close(err)
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
        sys.meta_path.insert(0, _ZipFirst(zip_path))
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
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            sys.stderr.write(str(exc.code) + "\n")
            code = 1
    except BaseException:  # what the interpreter would print for an uncaught exception
        traceback.print_exc()
        code = 1
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()  # modules clean their temporary files up at exit
        except BaseException:
            pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(code & 0xFF)


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
        shutil.rmtree(path, onerror=lambda *args: failed.append(args))
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            failed.append(exc)
    return {"rc": 1 if failed else 0, "stdout": "", "stderr": ""}


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
            return {"rc": 1, "stdout": "", "stderr": base64.b64encode(str(exc).encode()).decode()}
        return {"rc": 0, "stdout": "", "stderr": ""}
    proc = subprocess.Popen(req["sh"], shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = proc.communicate(base64.b64decode(req.get("stdin") or ""))
    return {"rc": proc.returncode, "stdout": base64.b64encode(out).decode(),
            "stderr": base64.b64encode(err).decode()}


def _work_dir():
    """A private directory for this process (module output; libraries without a cache): under Ansible's remote_tmp (~/.ansible/tmp),
    else the system's temporary directory (a become user without a home)."""
    base = os.path.expanduser("~/.ansible/tmp")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        return tempfile.mkdtemp(prefix="enoslib-agent-", dir=base)
    except OSError:
        return tempfile.mkdtemp(prefix="enoslib-agent-")


def main():
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # modules (and what they run) never see the protocol's pipes
    os.dup2(devnull, 1)
    work = _work_dir()
    libs = _Libraries(work)
    warm = False
    try:
        try:
            os.getcwd()
        except OSError:
            os.chdir(os.path.expanduser("~"))
        _send(proto_out, {"hello": {"python": sys.executable, "version": list(sys.version_info[:3]),
                                    "pid": os.getpid(), "libs": libs.present()}})
        while True:
            head = _read_exact(proto_in, 4)
            if head is None:
                return
            body = _read_exact(proto_in, struct.unpack(">I", head)[0])
            if body is None:
                return
            req = json.loads(body.decode("utf-8", "surrogateescape"))
            if any(k in req for k in COMMANDS):
                _send(proto_out, _command(req))
                continue
            key = req["lib"]
            try:
                lib_path = libs.path(key, req.get("zip_data"))
            except Exception as exc:  # noqa: BLE001 - told to the controller
                _send(proto_out, {"error": "cannot unpack module payload %s: %r" % (key, exc)})
                continue
            if lib_path is None:
                _send(proto_out, {"need": key})
                continue
            if not warm:  # before the first fork: every child, the first too, starts warm
                warm = True
                _warm(lib_path)
            out_path, err_path = os.path.join(work, "out"), os.path.join(work, "err")
            pid = os.fork()
            if pid == 0:
                _child(req, lib_path, out_path, err_path)
            _, status = os.waitpid(pid, 0)
            rc = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else (
                -(status & 0x7F) if status & 0x7F else status >> 8)
            with open(out_path, "rb") as f:
                stdout = f.read()
            with open(err_path, "rb") as f:
                stderr = f.read()
            _send(proto_out, {"rc": rc, "stdout": stdout.decode("utf-8", "surrogateescape"),
                              "stderr": stderr.decode("utf-8", "surrogateescape")})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":  # run by ``python -c``; importing this file does nothing
    main()
