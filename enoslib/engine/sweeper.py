"""``ParamSweeper``: a persistent, thread- and process-safe iterator over combinations.

Same names and semantics as ``execo_engine.sweep.ParamSweeper``; the state on disk is plain
text instead of pickles, and the order is the order of the sweeps (first first), so that two
runs of the same script do the same things in the same order.

Files of the persistence directory (safe to read at any time, to edit with care):

- ``done.jsonl``: one done combination per line, JSON, append-only;
- ``inprogress.json``: the combinations being processed, each with its owner (host, pid),
  rewritten atomically (temporary file + rename) on every change;
- ``sweeps.json``: the combinations, when ``save_sweeps=True``;
- ``lock``: the lock file every operation takes (``flock``; works on NFS with current kernels).

As in execo, *skipped* is not persisted (a later run retries skipped combinations) and an
*inprogress* combination whose process died stays in progress until :meth:`ParamSweeper.reset`
with ``reset_inprogress=True``, or until it is cancelled; :meth:`ParamSweeper.cancel_orphans`
cancels those whose process (on this host) is gone.

>>> import tempfile
>>> from enoslib.engine import sweep
>>> s = ParamSweeper(tempfile.mkdtemp(), sweep({"n": [1, 2]}))
>>> c = s.get_next()
>>> c
{'n': 1}
>>> s.done(c); print(s)  # doctest: +ELLIPSIS
tmp... <2 total, 1 done, 0 skipped, 0 in progress, 1 remaining>
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Set
from pathlib import Path
from typing import Any

from enoslib.engine.sweep import HashableDict, pretty_stats

__all__ = ["Combinations", "ParamSweeper", "decode_combination", "encode_combination"]

logger = logging.getLogger("enoslib.engine")

DONE, INPROGRESS, SWEEPS, LOCK = "done.jsonl", "inprogress.json", "sweeps.json", "lock"
_TAGS = ("__tuple__", "__frozenset__", "__dict__")


# -- JSON encoding of combinations ----------------------------------------------------------
def encode_combination(value: Any) -> Any:
    """A JSON-ready form of ``value`` that :func:`decode_combination` turns back into an equal
    value (tuples, frozensets and dicts with non-string keys are tagged)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not (len(value) == 1 and next(iter(value)) in _TAGS):
            return {k: encode_combination(v) for k, v in value.items()}
        return {"__dict__": [[encode_combination(k), encode_combination(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [encode_combination(v) for v in value]}
    if isinstance(value, frozenset):
        items = [encode_combination(v) for v in value]
        return {"__frozenset__": sorted(items, key=lambda x: json.dumps(x, sort_keys=True))}
    if isinstance(value, list):
        return [encode_combination(v) for v in value]
    raise TypeError(f"ParamSweeper stores combinations as JSON: cannot store {type(value).__name__} "
                    f"{value!r} (use str, int, float, bool, None, tuple, frozenset or dict values)")


def decode_combination(data: Any) -> Any:
    """The inverse of :func:`encode_combination` (JSON objects become :class:`HashableDict`)."""
    if isinstance(data, list):
        return [decode_combination(v) for v in data]
    if isinstance(data, dict):
        if len(data) == 1:
            (tag, inner), = data.items()
            if tag == "__tuple__":
                return tuple(decode_combination(v) for v in inner)
            if tag == "__frozenset__":
                return frozenset(decode_combination(v) for v in inner)
            if tag == "__dict__":
                return HashableDict((decode_combination(k), decode_combination(v)) for k, v in inner)
        return HashableDict((k, decode_combination(v)) for k, v in data.items())
    return data


def _dumps(combination: Any) -> str:
    return json.dumps(encode_combination(combination), ensure_ascii=False)


# -- an ordered set --------------------------------------------------------------------------
class Combinations(Set):  # type: ignore[type-arg]
    """A set of combinations that iterates in a fixed order (the sweeps' order)."""

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._items = dict.fromkeys(items)

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> Combinations:
        return cls(it)

    def __contains__(self, item: object) -> bool:
        try:
            return item in self._items
        except TypeError:
            return False

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Combinations({list(self._items)!r})"

    def copy(self) -> Combinations:
        return Combinations(self._items)


# -- process identity (to tell a dead owner from a live one, pid reuse included) -------------
def _process_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: start time in clock ticks since boot


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start is None or _process_start(pid) in (None, start)


class ParamSweeper:
    """Checkpointed, thread-safe and process-safe iterator over ``sweeps``.

    :param persistence_dir: directory of the state (created when missing); every
        ParamSweeper sharing it (threads, processes, hosts on NFS) shares the *done* and
        *inprogress* states
    :param sweeps: what to iterate on (hashable, JSON-storable elements, e.g. the result of
        :func:`~enoslib.engine.sweep.sweep`); None loads ``sweeps.json`` saved by an earlier
        ``save_sweeps=True``
    :param save_sweeps: write the sweeps to ``sweeps.json``
    :param name: name in logs and ``str()`` (default: the directory's name)
    """

    def __init__(self, persistence_dir: str | os.PathLike[str], sweeps: Iterable[Any] | None = None,
                 save_sweeps: bool = False, name: str | None = None) -> None:
        if not isinstance(persistence_dir, (str, os.PathLike)) and isinstance(sweeps, (str, os.PathLike)):
            persistence_dir, sweeps = sweeps, persistence_dir  # ParamSweeper(sweeps, dir), as execo's docs show
        self._dir = Path(persistence_dir)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._name = name or self._dir.name
        self._rlock = threading.RLock()
        self._lock_fd = os.open(self._dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        self._lock_pid, self._flock_depth = os.getpid(), 0
        self._host = socket.gethostname()
        self._owner = {"host": self._host, "pid": os.getpid(), "start": _process_start(os.getpid())}
        self._sweeps: dict[Any, int] = {}
        self._done: set[Any] = set()
        self._inprogress: dict[Any, dict[str, Any]] = {}
        self._skipped: set[Any] = set()
        self._remaining: dict[Any, None] = {}
        self._done_pos = 0
        self._done_id: tuple[int, int] | None = None
        self._inprogress_raw: bytes | None = None
        self.set_sweeps(sweeps, save_sweeps)

    def __del__(self) -> None:
        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    # -- locking and files -------------------------------------------------------------------
    def _locked(self) -> _FileLock:
        return _FileLock(self)

    def _owner_now(self) -> dict[str, Any]:
        pid = os.getpid()
        if pid != self._owner["pid"]:  # forked child: its own identity
            self._owner = {"host": self._host, "pid": pid, "start": _process_start(pid)}
        return self._owner

    def _read_done(self, full: bool) -> tuple[list[Any], bool]:
        """Read the new lines of ``done.jsonl``: (new combinations, whether all was reloaded)."""
        path = self._dir / DONE
        try:
            f = open(path, "rb+")
        except FileNotFoundError:
            reloaded = bool(self._done_pos or self._done)
            self._done.clear()
            self._done_pos, self._done_id = 0, None
            return [], reloaded
        with f:
            st = os.fstat(f.fileno())
            ident = (st.st_dev, st.st_ino)
            reloaded = full or ident != self._done_id or st.st_size < self._done_pos
            if reloaded:
                self._done.clear()
                self._done_pos, self._done_id = 0, ident
            if st.st_size == self._done_pos:
                return [], reloaded
            f.seek(self._done_pos)
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):  # a writer died mid-line (we hold the lock): drop the torn tail
                logger.warning("%s: dropping an incomplete line at the end of %s", self._name, path)
                f.truncate(self._done_pos + end)
            new = []
            for n, line in enumerate(data[:end].splitlines()):
                if not line.strip():
                    continue
                try:
                    new.append(decode_combination(json.loads(line)))
                except (ValueError, TypeError) as exc:
                    logger.warning("%s: ignoring unreadable line %r of %s (%s)", self._name, line[:80], path, exc)
            self._done_pos += end
            try:
                self._done.update(new)
            except TypeError as exc:  # an unhashable line, edited by hand
                raise ValueError(f"{path}: a line is not a hashable combination ({exc})") from None
            return new, reloaded

    def _read_inprogress(self) -> None:
        path = self._dir / INPROGRESS
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = b""
        if raw == self._inprogress_raw:  # unchanged since our last read or write: no parsing
            return
        entries: list[dict[str, Any]] = []
        if raw:
            try:
                entries = json.loads(raw.decode("utf-8"))["inprogress"]
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("%s: ignoring unreadable %s (%s)", self._name, path, exc)
                entries = []
        self._inprogress_raw = raw
        self._inprogress = {decode_combination(e["combination"]): e.get("owner", {}) for e in entries}

    def _write_inprogress(self) -> None:
        body = {"format": 1, "inprogress": [
            {"combination": encode_combination(c), "owner": self._inprogress[c]} for c in self._ordered(self._inprogress)
        ]}
        raw = (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
        # under the lock a fixed name per process is enough (cheaper than mkstemp)
        _atomic_write(self._dir / INPROGRESS, raw, self._dir / f".{INPROGRESS}.{self._host}.{os.getpid()}.tmp")
        self._inprogress_raw = raw

    def _append_done(self, combinations: list[Any]) -> None:
        if not combinations:
            return
        text = "".join(_dumps(c) + "\n" for c in combinations).encode("utf-8")
        fd = os.open(self._dir / DONE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        ident = (st.st_dev, st.st_ino)
        if ident == self._done_id or self._done_id is None:
            self._done_id = ident
            self._done_pos = st.st_size
        self._done.update(combinations)

    def _ordered(self, items: Iterable[Any]) -> list[Any]:
        """``items`` in the sweeps' order (others last, in their own order)."""
        end = len(self._sweeps)
        return sorted(items, key=lambda c: self._sweeps.get(c, end))

    def _recompute_remaining(self) -> None:
        self._remaining = {c: None for c in self._sweeps
                           if c not in self._done and c not in self._skipped and c not in self._inprogress}

    def _sync(self, full: bool = False) -> None:
        """Bring the in-memory state up to date with the files (lock held)."""
        before = set(self._inprogress)
        new_done, reloaded = self._read_done(full)
        self._read_inprogress()
        # done but still listed in progress: a process died between the two writes of done()
        self._release([c for c in self._inprogress if c in self._done])
        freed = [c for c in before if c not in self._inprogress and c not in self._done
                 and c not in self._skipped and c in self._sweeps]
        if full or reloaded or freed:
            # cancelled or reset elsewhere: back in the todo list, at their place
            self._recompute_remaining()
        else:
            for c in new_done:
                self._remaining.pop(c, None)
            for c in self._inprogress:
                self._remaining.pop(c, None)

    # -- sweeps ------------------------------------------------------------------------------
    def set_sweeps(self, sweeps: Iterable[Any] | None = None, save_sweeps: bool = False) -> None:
        """Change what to iterate on (None: load ``sweeps.json``)."""
        with self._locked():
            if sweeps:
                ordered: dict[Any, int] = {}
                for i, c in enumerate(sweeps):
                    if not isinstance(c, Hashable) or not _hashable(c):
                        raise TypeError(f"ParamSweeper: element {i} of the sweeps is not hashable: {c!r} "
                                        "(use HashableDict instead of dict)")
                    ordered.setdefault(c, len(ordered))
                if save_sweeps:
                    _atomic_write(self._dir / SWEEPS, (json.dumps(
                        [encode_combination(c) for c in ordered], ensure_ascii=False, indent=1) + "\n").encode())
            else:
                path = self._dir / SWEEPS
                try:
                    loaded = json.loads(path.read_text(encoding="utf-8"))
                except FileNotFoundError:
                    raise FileNotFoundError(f"ParamSweeper: no sweeps given and no saved {path} "
                                            "(pass sweeps=..., save_sweeps=True once)") from None
                ordered = {}
                for c in loaded:
                    ordered.setdefault(decode_combination(c), len(ordered))
            self._sweeps = ordered
            self._sync(full=True)

    def full_update(self) -> None:
        """Reload the whole state from disk."""
        with self._locked():
            self._sync(full=True)

    def update(self) -> None:
        """Read what other ParamSweepers did since the last operation (incremental)."""
        with self._locked():
            self._sync()

    # -- views -------------------------------------------------------------------------------
    def _view(self, items: Any) -> Combinations:
        return Combinations(c for c in self._sweeps if c in items)

    def get_sweeps(self) -> Combinations:
        """All combinations, in order."""
        with self._rlock:
            return Combinations(self._sweeps)

    def get_remaining(self) -> Combinations:
        """The *todo* combinations (a copy, in order)."""
        with self._rlock:
            return Combinations(c for c in self._sweeps if c in self._remaining)

    def get_done(self) -> Combinations:
        """The *done* combinations among the sweeps (a copy, in order)."""
        with self._rlock:
            return self._view(self._done)

    def get_inprogress(self) -> Combinations:
        """The combinations being processed, by any process sharing the directory."""
        with self._rlock:
            return self._view(self._inprogress)

    def get_skipped(self) -> Combinations:
        """The combinations this instance skipped."""
        with self._rlock:
            return self._view(self._skipped)

    def get_inprogress_owners(self) -> dict[Any, dict[str, Any]]:
        """``{combination: {"host", "pid", "start"}}`` of the combinations being processed."""
        with self._rlock:
            return {c: dict(self._inprogress[c]) for c in self._view(self._inprogress)}

    def stats(self) -> tuple[Combinations, Combinations, Combinations, Combinations, Combinations]:
        """``(sweeps, remaining, skipped, inprogress, done)``, taken atomically."""
        with self._rlock:
            return (self.get_sweeps(), self.get_remaining(), self.get_skipped(), self.get_inprogress(),
                    self.get_done())

    def pretty_stats(self) -> str:
        """A text table of the states per factor level (see :func:`~enoslib.engine.sweep.pretty_stats`)."""
        return pretty_stats(self.stats())

    def __str__(self) -> str:
        with self._rlock:
            return (f"{self._name} <{len(self._sweeps)} total, {len(self.get_done())} done, "
                    f"{len(self.get_skipped())} skipped, {len(self.get_inprogress())} in progress, "
                    f"{len(self._remaining)} remaining>")

    __repr__ = __str__

    # -- transitions -------------------------------------------------------------------------
    def get_next(self, filtr: Callable[[Combinations], Iterable[Any]] | None = None) -> Any:
        """The next *todo* combination (now *inprogress*), or None when none is left.

        :param filtr: called with the remaining combinations (in order), returns the ones
            acceptable now, in the order wanted
        """
        got = self.get_next_batch(1, filtr)
        return got[0] if got else None

    def get_next_batch(self, num_combs: int, filtr: Callable[[Combinations], Iterable[Any]] | None = None
                       ) -> list[Any]:
        """Up to ``num_combs`` *todo* combinations (now *inprogress*)."""
        with self._locked():
            self._sync()
            candidates: Iterable[Any] = Combinations(self._remaining)
            if filtr is not None:
                candidates = filtr(candidates)  # type: ignore[arg-type]
            chosen: list[Any] = []
            for c in candidates:
                if len(chosen) >= num_combs:
                    break
                if c in self._remaining:
                    chosen.append(c)
            if not chosen:
                logger.debug("%s: no combination left", self._name)
                return []
            owner = self._owner_now()
            for c in chosen:
                del self._remaining[c]
                self._inprogress[c] = {**owner, "since": round(time.time(), 3)}
            self._write_inprogress()
        logger.debug("%s: new combination(s) %s", self._name, chosen)
        return chosen

    def _release(self, combinations: list[Any]) -> bool:
        """Take ``combinations`` out of the inprogress state (lock held); whether any was."""
        held = [c for c in combinations if c in self._inprogress]
        for c in held:
            del self._inprogress[c]
        if held:
            self._write_inprogress()
        return bool(held)

    def done(self, combination: Any) -> None:
        """Mark ``combination`` *done* (persistent: never given again)."""
        self.done_batch([combination])

    def done_batch(self, combinations: Iterable[Any]) -> None:
        self._settle(list(combinations), done=True)

    def _settle(self, combinations: list[Any], done: bool) -> None:
        """Mark *done* (persisted) or *skipped* (this instance only)."""
        with self._locked():
            self._sync()
            if done:
                self._append_done([c for c in combinations if c not in self._done])
            for c in combinations:
                self._remaining.pop(c, None)
                if done:
                    self._skipped.discard(c)
                else:
                    self._skipped.add(c)
            self._release(combinations)
        logger.debug("%s: %s %s", self._name, "done" if done else "skipped", combinations)

    def skip(self, combination: Any) -> None:
        """Mark ``combination`` *skipped*: not given again by this instance (a later run retries it)."""
        self.skip_batch([combination])

    def skip_batch(self, combinations: Iterable[Any]) -> None:
        self._settle(list(combinations), done=False)

    def cancel(self, combination: Any) -> None:
        """Give ``combination`` back to the *todo* state (e.g. its processing was interrupted)."""
        self.cancel_batch([combination])

    def cancel_batch(self, combinations: Iterable[Any]) -> None:
        combinations = list(combinations)
        with self._locked():
            self._sync()
            self._skipped.difference_update(combinations)
            self._release(combinations)
            self._recompute_remaining()
        logger.debug("%s: cancelled %s", self._name, combinations)

    def cancel_orphans(self) -> list[Any]:
        """Cancel the *inprogress* combinations whose owner process (on this host) is gone,
        e.g. killed with ``kill -9``; combinations of other hosts are left alone."""
        with self._locked():
            self._sync()
            orphans = [c for c, owner in self._inprogress.items()
                       if owner.get("host") == self._host and isinstance(owner.get("pid"), int)
                       and not _alive(owner["pid"], owner.get("start"))]
            if self._release(orphans):
                self._recompute_remaining()
                logger.info("%s: %d combination(s) of dead processes back to todo", self._name, len(orphans))
            return self._ordered(orphans)

    def reset(self, reset_inprogress: bool = False) -> None:
        """Forget the *skipped* state (and, with ``reset_inprogress``, the *inprogress* state of
        every process sharing the directory); *done* is kept."""
        with self._locked():
            self._sync()
            self._skipped.clear()
            if reset_inprogress:
                self._inprogress.clear()
                self._write_inprogress()
            self._recompute_remaining()
        logger.debug("%s: reset (inprogress too: %s)", self._name, reset_inprogress)


class _FileLock:
    """The in-process lock (reentrant), then the directory's ``flock`` (exclusive)."""

    def __init__(self, sweeper: ParamSweeper) -> None:
        self.s = sweeper

    def __enter__(self) -> None:
        s = self.s
        s._rlock.acquire()
        try:
            if s._flock_depth == 0:
                if s._lock_pid != os.getpid():  # forked: a parent's open file would share its lock
                    os.close(s._lock_fd)
                    s._lock_fd = os.open(s._dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
                    s._lock_pid = os.getpid()
                fcntl.flock(s._lock_fd, fcntl.LOCK_EX)
            s._flock_depth += 1
        except BaseException:
            s._rlock.release()
            raise

    def __exit__(self, *exc: Any) -> None:
        s = self.s
        s._flock_depth -= 1
        if s._flock_depth == 0:
            fcntl.flock(s._lock_fd, fcntl.LOCK_UN)
        s._rlock.release()


def _hashable(c: Any) -> bool:
    try:
        hash(c)
    except TypeError:
        return False
    return True


def _atomic_write(path: Path, data: bytes, tmp: Path | None = None) -> None:
    """Replace ``path`` by ``data`` at once: readers see the old or the new content, never a mix."""
    if tmp is None:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
