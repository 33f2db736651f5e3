"""Grid'5000 accounts on the emulator's SSH hosts: every API login is a Unix user.

On the testbed an account (LDAP) exists on the access machines, on every site's frontend and on
the nodes running the standard environment; its home is a per-site NFS share, the same on a
site's frontend and nodes (``/home/<login>``, holding ``~/.ssh/authorized_keys`` with the keys
registered for the account and the ``id_rsa`` pair of the account). ``sudo-g5k`` gives root on a
node to the job's owner; a node deployed with a kadeploy environment only knows root (the
``-nfs`` and ``-big`` variants also know the accounts and mount the home).

The emulator does that with :class:`Accounts`: each host gets ``/etc/passwd``, ``/etc/group``
and ``/etc/sudoers.d/g5k-sudo`` (:meth:`Accounts.etc_files`, the machine's entries plus the
accounts') and a ``/home`` bound to one directory per site (:meth:`Accounts.mount`), all under
a directory of this emulator that :meth:`Accounts.close` removes. The login ``root`` is no
account: it is the emulator's historical mode, where the gateways let root in.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["GID", "GROUP", "Accounts", "uses_accounts"]

GID = 8000  # the accounts' primary group (one group for every account)
GROUP = "g5k-users"
UID_BASE, UID_SPAN = 20000, 40000
LOGIN_RE = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
# environments that keep the accounts and the NFS home when deployed (kadeploy's -nfs/-big)
_ACCOUNT_VARIANTS = ("nfs", "big", "std")


def uses_accounts(environment: str | None) -> bool:
    """Does a node deployed with ``environment`` (None: not deployed) know the accounts?"""
    if not environment:
        return True
    variant = environment.split("@")[0].rsplit("-", 1)[-1]
    return variant in _ACCOUNT_VARIANTS


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().rstrip("\n").splitlines()
    except OSError:
        return []


def _machine_ids(path: str) -> set[int]:
    ids = set()
    for line in _read_lines(path):
        parts = line.split(":")
        if len(parts) > 2 and parts[2].isdigit():
            ids.add(int(parts[2]))
    return ids


class Accounts:
    """The Unix side of the API users ``logins`` (``root`` skipped), living under ``root_dir``.

    ``keys``: ``{login: [public key line, ...]}`` registered for the account (what a user
    uploads to the account manager); :meth:`add_key` adds more later. ``extra_keys``: keys every
    account accepts (the emulator's own, used by its ssh_config).
    """

    def __init__(self, logins: Iterable[str], root_dir: str | os.PathLike[str],
                 keys: Mapping[str, Sequence[str]] | None = None, extra_keys: Sequence[str] = ()) -> None:
        self.logins = [x for x in dict.fromkeys(logins) if x != "root"]
        for login in self.logins:
            if not LOGIN_RE.fullmatch(login):
                raise ValueError(f"users: {login!r} is not a valid Unix login (a-z, 0-9, _.-, 32 max)")
        taken = _machine_ids("/etc/passwd")
        self.uids: dict[str, int] = {}
        for login in self.logins:
            uid = UID_BASE + int(hashlib.sha1(login.encode()).hexdigest(), 16) % UID_SPAN
            while uid in taken:
                uid += 1
            taken.add(uid)
            self.uids[login] = uid
        unknown = set(keys or {}) - set(self.logins)
        if unknown:
            raise ValueError(f"ssh_keys: {', '.join(sorted(unknown))} is no API user (root has no account)")
        self.keys = {x: [k.strip() for k in (keys or {}).get(x, []) if k.strip()] for x in self.logins}
        self.extra_keys = [k.strip() for k in extra_keys if k.strip()]
        self.root = Path(root_dir)
        self.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        # held while this emulator lives: sweep_stale() tells a killed emulator's leftovers
        self._lock_fd: int | None = os.open(self.root / ".alive", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._pairs = self.root / "keys"  # one id_rsa pair per account, copied into every home
        self._places: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.logins)

    # -- /etc ------------------------------------------------------------------
    def etc_files(self, sudoers: Iterable[str] = ()) -> dict[str, str]:
        """``/etc/passwd``, ``/etc/group`` (machine's + accounts) and, for ``sudoers``, the
        sudo rule behind ``sudo-g5k``."""
        if not self.logins:
            return {}
        passwd = _read_lines("/etc/passwd")
        passwd += [f"{x}:x:{self.uids[x]}:{GID}:{x}:/home/{x}:/bin/bash" for x in self.logins]
        groups = _read_lines("/etc/group")
        groups = [g for g in groups if g.split(":")[0] != GROUP]
        groups.append(f"{GROUP}:x:{GID}:{','.join(self.logins)}")
        # sudo's PAM account check wants a shadow entry; the hosts' copy holds no hash at all
        # (it is readable there): "*" (no password), "!" kept for locked accounts
        shadow = []
        for line in _read_lines("/etc/shadow"):
            parts = line.split(":")
            if len(parts) > 2:
                parts[1] = "!" if parts[1].startswith("!") else "*"
                shadow.append(":".join(parts))
        shadow += [f"{x}:*:19000:0:99999:7:::" for x in self.logins]
        files = {
            "/etc/passwd": "\n".join(passwd) + "\n",
            "/etc/group": "\n".join(groups) + "\n",
            "/etc/shadow": "\n".join(shadow) + "\n",
        }
        owners = [x for x in sudoers if x in self.uids]
        if owners:
            files["/etc/sudoers.d/g5k-sudo"] = "".join(
                f"{x} ALL=(ALL:ALL) NOPASSWD: ALL\n" for x in owners
            )
        return files

    # -- homes -------------------------------------------------------------------
    def _pair(self, login: str) -> tuple[str, str]:
        self._pairs.mkdir(mode=0o700, exist_ok=True)
        key = self._pairs / login
        if not key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", f"{login}@grid5000",
                 "-f", str(key)],
                check=True, capture_output=True,
            )
        return key.read_text(), (self._pairs / f"{login}.pub").read_text()

    def home_root(self, place: str) -> Path:
        """The ``/home`` of ``place`` (a site, or ``access``), every account's home in it."""
        base = self.root / "homes" / place
        if place not in self._places:
            base.mkdir(mode=0o755, parents=True, exist_ok=True)
            for login in self.logins:
                self._make_home(base / login, login)
            self._places.add(place)
        return base

    def _make_home(self, home: Path, login: str) -> None:
        uid = self.uids[login]
        ssh = home / ".ssh"
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        private, public = self._pair(login)
        (ssh / "id_rsa").write_text(private)
        (ssh / "id_rsa.pub").write_text(public)
        (ssh / "id_rsa").chmod(0o600)
        self._write_keys(home, login)
        for path in (home, ssh, *ssh.iterdir()):
            os.chown(path, uid, GID)
        home.chmod(0o700)

    def _write_keys(self, home: Path, login: str) -> None:
        public = (self._pairs / f"{login}.pub").read_text().strip()
        lines = [*self.keys[login], public, *self.extra_keys]
        target = home / ".ssh" / "authorized_keys"
        target.write_text("\n".join(dict.fromkeys(lines)) + "\n")
        target.chmod(0o600)
        os.chown(target, self.uids[login], GID)

    def add_key(self, login: str, key: str) -> None:
        """Register one more public key for ``login`` (every home made so far too)."""
        if login not in self.uids:
            raise KeyError(f"{login!r} has no account (API users: {', '.join(self.logins) or 'none'})")
        key = key.strip()
        if not key.startswith(("ssh-", "ecdsa-", "sk-")):
            raise ValueError(f"not an OpenSSH public key: {key[:30]!r}...")
        if key not in self.keys[login]:
            self.keys[login].append(key)
        for place in self._places:
            self._write_keys(self.root / "homes" / place / login, login)

    # -- hosts -------------------------------------------------------------------
    def mount(self, run: Callable[[list[str]], Any], place: str | None,
              files: Mapping[str, str] | None = None) -> None:
        """Inside a host's mount namespace (``run(argv)`` executes there): ``/home`` becomes
        ``place``'s (None: an empty one, as a deployed environment without NFS has), and each of
        ``files`` (``{"/etc/passwd": text}``) is bound over the machine's (hosts without overlays)."""
        if not self.logins:
            return
        if place is None:
            target = self.root / "homes" / "_empty"
            target.mkdir(mode=0o755, parents=True, exist_ok=True)
        else:
            target = self.home_root(place)
        run(["mount", "--bind", str(target), "/home"])
        for k, (path, text) in enumerate(sorted((files or {}).items())):
            src = self.root / "etc" / f"{place or '_'}-{k}-{Path(path).name}"
            src.parent.mkdir(mode=0o755, exist_ok=True)
            src.write_text(text)
            run(["mount", "--bind", str(src), path])

    def close(self) -> None:
        """Remove every home and key of this emulator (hosts are gone by then)."""
        shutil.rmtree(self.root, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @staticmethod
    def sweep_stale(parent: str | os.PathLike[str], pattern: str = "accounts-*") -> list[Path]:
        """Remove the account directories under ``parent`` whose emulator died without
        cleaning up (nobody holds their lock); returns what was removed."""
        removed = []
        for path in Path(parent).glob(pattern):
            try:
                fd = os.open(path / ".alive", os.O_RDWR)
            except OSError:
                continue  # being created, or not ours
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # alive
            finally:
                os.close(fd)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        return removed
