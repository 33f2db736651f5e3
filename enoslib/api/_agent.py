"""The remote half of the module fast path: a Python process kept alive on each host.

This file is NOT imported by enoslib: :mod:`enoslib.api.modules` reads its text and starts
it on a host with ``python3 -c`` over the host's multiplexed SSH connection. Stdlib only,
Python >= 3.6 (what ansible-core's modules need on the targets anyway).

Protocol (stdin/stdout of the process, the SSH channel): frames of a 4-byte big-endian
length followed by that many bytes of JSON. The agent first sends ``{"hello": ...}``; then
for each request ``{"zip": sha, "zip_data": b64?, "fqn", "params", "profile",
"extensions", "env", "rlimit"}`` it answers ``{"rc", "stdout", "stderr"}``: what the
AnsiballZ wrapper would have printed and returned when run by ansible-core. Requests
``{"sh": command, "stdin"}`` and ``{"put": path, "data"}`` run a shell command / write a file
(base64 data and output), as the host's SSH connection would.

Each module runs in a forked child, through ansible-core's own AnsiballZ loader
(``ansible.module_utils._internal._ansiballz._loader.run_module``), with the module's zip
(ansible-core builds it on the controller) first on ``sys.path``. The parent imports
ansible's module_utils once, so children start warm: a module costs a fork, not a new
interpreter that imports ``basic`` again.
"""

import base64
import importlib.util
import json
import os
import shutil
import struct
import sys
import tempfile
import traceback
import zipimport


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
    """Finds ``ansible.*`` / ``ansible_collections.*`` modules in this task's zip first.

    The parent imported ``ansible.module_utils`` from the first zip it ran; another
    module's zip holds other files (its own module, other module_utils), which the
    packages imported from the first zip would not find through their ``__path__``."""

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


def _warm(zip_path):
    """Import what every module imports, once, in the parent (children inherit it)."""
    sys.path.insert(0, zip_path)
    try:
        import ansible.module_utils.basic  # noqa: F401
        from ansible.module_utils._internal._ansiballz import _loader  # noqa: F401
    except BaseException:
        pass
    finally:
        sys.path.remove(zip_path)


def _command(req):
    """``{"sh": command, "stdin": b64}``: the command run by /bin/sh, as ssh would run it;
    ``{"put": path, "data": b64}``: the file written. Output base64-encoded, exact bytes."""
    import subprocess

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
    """A private directory for the module zips: under Ansible's remote_tmp (~/.ansible/tmp),
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
    zips = {}
    warm = False
    try:
        try:
            os.getcwd()
        except OSError:
            os.chdir(os.path.expanduser("~"))
        _send(proto_out, {"hello": {"python": sys.executable, "version": list(sys.version_info[:3]), "pid": os.getpid()}})
        while True:
            head = _read_exact(proto_in, 4)
            if head is None:
                return
            body = _read_exact(proto_in, struct.unpack(">I", head)[0])
            if body is None:
                return
            req = json.loads(body.decode("utf-8", "surrogateescape"))
            if "sh" in req or "put" in req:
                _send(proto_out, _command(req))
                continue
            sha = req["zip"]
            if req.get("zip_data"):
                path = os.path.join(work, sha + ".zip")
                with open(path, "wb") as f:
                    f.write(base64.b64decode(req["zip_data"]))
                zips[sha] = path
            if sha not in zips:
                _send(proto_out, {"error": "unknown module payload " + sha})
                continue
            if not warm:  # before the first fork: every child, the first too, starts warm
                warm = True
                _warm(zips[sha])
            out_path, err_path = os.path.join(work, "out"), os.path.join(work, "err")
            pid = os.fork()
            if pid == 0:
                _child(req, zips[sha], out_path, err_path)
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
