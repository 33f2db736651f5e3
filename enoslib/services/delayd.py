#!/usr/bin/python3
"""enoslib-delayd: delay and drop packets in userspace, for kernels without ``sch_netem``.

Packets are sent here by iptables rules (``-j NFQUEUE --queue-num N``); this program speaks
the nfnetlink_queue protocol itself (``AF_NETLINK``/``NETLINK_NETFILTER``, no library) and,
for each queue, either drops a packet at once (with the queue's loss probability) or
accepts it ``delay`` milliseconds after it arrived. Packets of a queue leave in the order
they came (jitter never reorders), so the packets due at a given time are always the oldest
ones, and one batch verdict (``NFQNL_MSG_VERDICT_BATCH``: every id up to N) releases them.

Re-injecting queues (``--reinject-queue``) are for outgoing traffic: a packet held in the
kernel still counts against its socket's budget (TCP small queues), so one TCP flow through
an egress delay D would get about two packets per D. These queues take a copy of the packet,
drop the original at once (the socket's budget is freed, as netem's orphaning does) and,
after the delay, send the copy again from a raw socket whose packets carry ``--mark`` (the
iptables rules let marked packets through). Packets bigger than their interface's MTU
(not yet fragmented) are held instead.

Standalone and stdlib-only on purpose: EnOSlib ships this file as text to a host and runs
it there with ``/usr/bin/python3`` (3.6+). Daemonising is the caller's job (``... &``)::

    delayd.py --queue 7300:10:0 --queue 7301:25:1.5:2 --pidfile /tmp/delayd.pid

``--queue``/``--reinject-queue NUM:DELAY_MS:LOSS_PCT[:JITTER_MS]``. The pid file is written once every queue is
bound (it is the readiness signal). SIGTERM/SIGINT: the packets still held are accepted,
the queues unbound, the pid file removed. SIGUSR1: statistics on stderr.
"""

import argparse
import collections
import errno
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SO_RCVBUFFORCE = 33
NFNL_SUBSYS_QUEUE = 3

# netlink message types and flags
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

# nfnetlink_queue message types
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG, NFQNL_MSG_VERDICT_BATCH = 0, 1, 2, 3
# attributes of a packet / verdict message
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_IFINDEX_OUTDEV, NFQA_PAYLOAD = 1, 2, 6, 10
# attributes of a config message
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQNL_CFG_CMD_BIND, NFQNL_CFG_CMD_UNBIND, NFQNL_CFG_CMD_PF_BIND, NFQNL_CFG_CMD_PF_UNBIND = 1, 2, 3, 4
NFQNL_COPY_META, NFQNL_COPY_PACKET = 1, 2
SO_MARK = 36
NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_GSO = 0x1, 0x4
NF_DROP, NF_ACCEPT = 0, 1

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, portid (host byte order)
_NFGENMSG = struct.Struct("!BBH")  # family, version, res_id (queue number, big endian)
_NLATTR = struct.Struct("=HH")  # len, type
_HEADERS = _NLMSGHDR.size + _NFGENMSG.size


# -- encoding ----------------------------------------------------------------------------
def _align(n):
    return (n + 3) & ~3


def nlattr(atype, payload):
    """One netlink attribute, padded to 4 bytes."""
    length = _NLATTR.size + len(payload)
    return _NLATTR.pack(length, atype) + payload + b"\0" * (_align(length) - length)


def nfq_message(msg_type, queue, attrs=b"", seq=0, flags=NLM_F_REQUEST, family=socket.AF_UNSPEC):
    """A netlink message of the nfnetlink_queue subsystem addressed to ``queue``."""
    body = _NFGENMSG.pack(family, 0, queue) + attrs
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type,
                          flags, seq, 0) + body


def config_cmd(queue, command, pf=0, seq=0):
    """NFQNL_MSG_CONFIG carrying a command (bind, unbind, pf_bind, pf_unbind), acked."""
    return nfq_message(NFQNL_MSG_CONFIG, queue, nlattr(NFQA_CFG_CMD, struct.pack("!BxH", command, pf)),
                       seq=seq, flags=NLM_F_REQUEST | NLM_F_ACK)


def config_params(queue, copy_mode=NFQNL_COPY_META, copy_range=0, maxlen=None, seq=0):
    """NFQNL_MSG_CONFIG setting the copy mode (metadata only: no payload comes up) and
    the queue's length (packets held before the kernel drops)."""
    attrs = nlattr(NFQA_CFG_PARAMS, struct.pack("!IB", copy_range, copy_mode))
    if maxlen is not None:
        attrs += nlattr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen))
    return nfq_message(NFQNL_MSG_CONFIG, queue, attrs, seq=seq, flags=NLM_F_REQUEST | NLM_F_ACK)


def config_flags(queue, flags, mask, seq=0):
    """NFQNL_MSG_CONFIG setting queue flags (only the bits in ``mask`` change)."""
    attrs = nlattr(NFQA_CFG_MASK, struct.pack("!I", mask)) + nlattr(NFQA_CFG_FLAGS, struct.pack("!I", flags))
    return nfq_message(NFQNL_MSG_CONFIG, queue, attrs, seq=seq, flags=NLM_F_REQUEST | NLM_F_ACK)


def verdict(queue, packet_id, decision, batch=False):
    """NFQNL_MSG_VERDICT for one packet, or NFQNL_MSG_VERDICT_BATCH: the same decision for
    every packet of the queue whose id is <= ``packet_id``."""
    return nfq_message(NFQNL_MSG_VERDICT_BATCH if batch else NFQNL_MSG_VERDICT, queue,
                       nlattr(NFQA_VERDICT_HDR, struct.pack("!II", decision, packet_id)))


# -- decoding ----------------------------------------------------------------------------
def parse_attrs(buf, start, end):
    """{type: payload} of the attributes in ``buf[start:end]``."""
    attrs = {}
    while start + _NLATTR.size <= end:
        length, atype = _NLATTR.unpack_from(buf, start)
        if length < _NLATTR.size:
            break
        attrs[atype & NLA_TYPE_MASK] = bytes(buf[start + _NLATTR.size:start + length])
        start += _align(length)
    return attrs


def parse_messages(buf, size=None):
    """Yield the netlink messages in ``buf[:size]`` as tuples:

    - ``("packet", queue, packet_id, (start, end))`` for NFQNL_MSG_PACKET: where its
      attributes are in ``buf`` (for :func:`parse_attrs`, when more than the id is needed);
    - ``("error", seq, errno, None)`` for NLMSG_ERROR (errno 0: an acknowledgement);
    - ``("other", type, seq, None)`` otherwise.
    """
    size = len(buf) if size is None else size
    off = 0
    while off + _NLMSGHDR.size <= size:
        length, mtype, _flags, seq, _portid = _NLMSGHDR.unpack_from(buf, off)
        if length < _NLMSGHDR.size or off + length > size:
            break
        if mtype == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET and length >= _HEADERS:
            _family, _version, queue = _NFGENMSG.unpack_from(buf, off + _NLMSGHDR.size)
            packet_id = None
            # fast path: the kernel puts NFQA_PACKET_HDR first
            alen, atype = _NLATTR.unpack_from(buf, off + _HEADERS)
            if atype & NLA_TYPE_MASK == NFQA_PACKET_HDR and alen >= 8:
                packet_id = struct.unpack_from("!I", buf, off + _HEADERS + _NLATTR.size)[0]
            else:
                hdr = parse_attrs(buf, off + _HEADERS, off + length).get(NFQA_PACKET_HDR)
                if hdr is not None and len(hdr) >= 4:
                    packet_id = struct.unpack_from("!I", hdr)[0]
            if packet_id is not None:
                yield ("packet", queue, packet_id, (off + _HEADERS, off + length))
        elif mtype == NLMSG_ERROR and length >= _NLMSGHDR.size + 4 + _NLMSGHDR.size:
            err = struct.unpack_from("=i", buf, off + _NLMSGHDR.size)[0]
            orig_seq = _NLMSGHDR.unpack_from(buf, off + _NLMSGHDR.size + 4)[3]
            yield ("error", orig_seq, -err, None)
        else:
            yield ("other", mtype, seq, None)
        off += _align(length)


# -- queues ------------------------------------------------------------------------------
class QueueSpec:
    """One netfilter queue served by the daemon: its delay, loss and jitter, and the packets it holds."""
    __slots__ = ("num", "delay", "loss", "jitter", "reinject", "pending", "last_release",
                 "received", "accepted", "dropped")

    def __init__(self, num, delay_ms, loss_pct=0.0, jitter_ms=0.0, reinject=False):
        self.num = num
        self.reinject = reinject
        self.delay = delay_ms / 1000.0
        self.loss = loss_pct / 100.0
        self.jitter = jitter_ms / 1000.0
        # (release time, packet id, copy to send or None: held in the kernel), times ascending
        self.pending = collections.deque()
        self.last_release = 0.0
        self.received = self.accepted = self.dropped = 0

    def __repr__(self):
        return "queue %d: delay %.3f ms, loss %.3f %%, jitter %.3f ms%s" % (
            self.num, self.delay * 1000, self.loss * 100, self.jitter * 1000, ", re-injecting" if self.reinject else "")


def parse_queue(text, reinject=False):
    """``"NUM:DELAY_MS:LOSS_PCT[:JITTER_MS]"`` -> QueueSpec (ValueError when invalid)."""
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise ValueError("expected NUM:DELAY_MS:LOSS_PCT[:JITTER_MS], got %r" % text)
    num = int(parts[0])
    delay, loss = float(parts[1]), float(parts[2])
    jitter = float(parts[3]) if len(parts) == 4 else 0.0
    if not 0 <= num <= 65535:
        raise ValueError("queue number %d out of 0..65535" % num)
    if not (0 <= delay <= 3600e3 and 0 <= loss <= 100 and 0 <= jitter <= 3600e3):
        raise ValueError("delay/jitter must be 0..3600000 ms and loss 0..100 %%: %r" % text)
    return QueueSpec(num, delay, loss, jitter, reinject)


def parse_reinject_queue(text):
    """Parse ``NUM:DELAY_MS:LOSS_PCT[:JITTER_MS]`` for a queue whose packets are re-sent."""
    return parse_queue(text, reinject=True)


# -- the daemon --------------------------------------------------------------------------
class NetlinkError(Exception):
    """The kernel refused a configuration request (or did not answer)."""


class Delayd:
    """The queues, the netlink socket and the release loop (one thread).

    ``advance_us``: a packet is released when its time is at most this close: select()
    wakes up tens of microseconds after its timeout, so the loop aims that much earlier.
    ``None``: learnt as it goes (moving average of the wake-up overshoot).
    """

    def __init__(self, queues, maxlen=65536, rcvbuf=8 << 20, advance_us=None, log=sys.stderr, sock=None,
                 mark=0x454E):
        self.queues = {q.num: q for q in queues}
        self.mark = mark
        self.raw = {}  # address family -> raw socket sending re-injected packets
        self.mtus = {}  # ifindex -> MTU
        self.send_errors = 0
        self.maxlen = maxlen
        self.adaptive = advance_us is None
        self.advance = (50.0 if advance_us is None else advance_us) / 1e6
        self.log = log
        if sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
            try:  # room for bursts: a message the kernel cannot queue costs its packet
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.bind((0, 0))
        self.sock = sock
        self.buf = bytearray(1 << 17)
        self.out = []  # encoded verdicts waiting to be sent
        self.seq = 0
        self.acks = {}
        self.waiting = set()
        self.overruns = 0
        self.late_max = 0.0
        self.late_sum = 0.0
        self.late_n = 0
        self.errors_logged = 0
        self.stop = False
        self.random = random.Random()

    # - configuration (acknowledged requests) -
    def request(self, message_fn, *args, **kwargs):
        self.seq += 1
        seq = self.seq
        self.waiting.add(seq)
        try:
            self.sock.send(message_fn(*args, seq=seq, **kwargs))
            deadline = time.monotonic() + 5.0
            while seq not in self.acks:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                    raise NetlinkError("no answer from the kernel (nfnetlink_queue missing?)")
                self.receive()
        finally:
            self.waiting.discard(seq)
        err = self.acks.pop(seq)
        if err:
            raise NetlinkError(os.strerror(err) + " (errno %d)" % err)

    def bind(self):
        for pf in (socket.AF_INET, socket.AF_INET6):
            # no-ops since Linux 3.8; needed before
            for cmd in (NFQNL_CFG_CMD_PF_UNBIND, NFQNL_CFG_CMD_PF_BIND):
                try:
                    self.request(config_cmd, 0, cmd, pf)
                except NetlinkError:
                    pass
        for q in self.queues.values():
            try:
                self.request(config_cmd, q.num, NFQNL_CFG_CMD_BIND)
            except NetlinkError as e:
                raise NetlinkError("cannot bind queue %d: %s (another program holds it?)" % (q.num, e))
            if q.reinject:  # the whole packet, GSO ones cut in segments (with checksums) first
                self.request(config_params, q.num, NFQNL_COPY_PACKET, 0xFFFF, self.maxlen)
                flags = 0
            else:  # the id is enough; GSO packets come up whole (far fewer messages)
                self.request(config_params, q.num, NFQNL_COPY_META, 0, self.maxlen)
                flags = NFQA_CFG_F_GSO
            try:
                # when the queue is full the kernel drops (fail-open off), as netem's limit does
                self.request(config_flags, q.num, flags, NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN)
            except NetlinkError as e:
                self.say("queue %d: flags not supported (%s): going on without" % (q.num, e))

    def unbind(self):
        for q in self.queues.values():
            try:
                self.request(config_cmd, q.num, NFQNL_CFG_CMD_UNBIND)
            except (NetlinkError, OSError) as e:
                self.say("queue %d: unbind: %s" % (q.num, e))

    # - packets -
    def receive(self, slept_since=None):
        """Read every message waiting on the socket (never blocks).

        ``slept_since``: when the loop went to sleep, if a packet woke it up. The first
        packet then arrived about one wake-up latency (learnt from the timers: ``advance``)
        before we could read it, and not before we slept: its delay counts from there."""
        sock, buf, queues = self.sock, self.buf, self.queues
        for _ in range(1024):  # then let due packets out before reading more
            try:
                n = sock.recv_into(buf, len(buf), socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:  # the kernel dropped messages (and their packets)
                    self.overruns += 1
                    continue
                if e.errno == errno.EINTR:
                    continue
                raise
            now = time.monotonic()
            if slept_since is not None:
                now = max(slept_since, now - self.advance)
                slept_since = None
            for kind, a, b, span in parse_messages(buf, n):
                if kind == "packet":
                    q = queues.get(a)
                    if q is None:
                        self.out.append(verdict(a, b, NF_ACCEPT))
                        continue
                    q.received += 1
                    copy = None
                    if q.reinject:
                        copy = self._copy(buf, span)
                        if copy is not None:  # the original goes now; the copy after the delay
                            self.out.append(verdict(a, b, NF_DROP))
                    if q.loss and self.random.random() < q.loss:
                        q.dropped += 1
                        if copy is None:
                            self.out.append(verdict(a, b, NF_DROP))
                        continue
                    release = now + q.delay
                    if q.jitter:
                        release += self.random.uniform(-q.jitter, q.jitter)
                    release = max(release, q.last_release)  # never reorder
                    q.last_release = release
                    q.pending.append((release, b, copy))
                elif kind == "error":
                    if a and a in self.waiting:  # an answer to a configuration request
                        self.acks[a] = b
                    elif b and self.errors_logged < 20:
                        self.errors_logged += 1
                        self.say("kernel error for a verdict: %s" % os.strerror(b))

    def _copy(self, buf, span):
        """The packet's bytes if it can be re-injected (not bigger than its interface's MTU)."""
        attrs = parse_attrs(buf, span[0], span[1])
        payload = attrs.get(NFQA_PAYLOAD)
        outdev = attrs.get(NFQA_IFINDEX_OUTDEV)
        if not payload or outdev is None or payload[0] >> 4 not in (4, 6):
            return None
        ifindex = struct.unpack("!I", outdev[:4])[0]
        mtu = self.mtus.get(ifindex)
        if mtu is None:
            try:
                with open("/sys/class/net/%s/mtu" % socket.if_indextoname(ifindex)) as f:
                    mtu = int(f.read())
            except (OSError, ValueError):
                mtu = 1500
            self.mtus[ifindex] = mtu
        return payload if len(payload) <= mtu else None

    def _send(self, packet):
        """Send a re-injected packet (IP header included) from a raw socket carrying our mark."""
        family = socket.AF_INET if packet[0] >> 4 == 4 else socket.AF_INET6
        sock = self.raw.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP(V6)_HDRINCL
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, self.mark)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            self.raw[family] = sock
        if family == socket.AF_INET:
            dest = socket.inet_ntop(family, packet[16:20])
        else:
            dest = socket.inet_ntop(family, packet[24:40])
        try:
            sock.sendto(packet, (dest, 0))
        except OSError:
            self.send_errors += 1

    def release_due(self, now):
        limit = now + self.advance
        for q in self.queues.values():
            pending = q.pending
            last = None
            while pending and pending[0][0] <= limit:
                release, pid, copy = pending.popleft()
                if copy is None:
                    last = pid
                else:
                    self._send(copy)
                late = now - release
                self.late_max = max(self.late_max, late)
                self.late_sum += late
                self.late_n += 1
                q.accepted += 1
            if last is not None:
                self.out.append(verdict(q.num, last, NF_ACCEPT, batch=True))

    def flush(self):
        out, self.out = self.out, []
        chunk = []
        size = 0
        for msg in out:
            chunk.append(msg)
            size += len(msg)
            if size > 32768:
                self.sock.send(b"".join(chunk))
                chunk, size = [], 0
        if chunk:
            self.sock.send(b"".join(chunk))

    def next_timeout(self, now):
        heads = [q.pending[0][0] for q in self.queues.values() if q.pending]
        if not heads:
            return None
        return max(0.0, min(heads) - self.advance - now)

    def run(self, wakeup_fd=None):
        fds = [self.sock] if wakeup_fd is None else [self.sock, wakeup_fd]
        while not self.stop:
            now = time.monotonic()
            self.release_due(now)
            if self.out:
                self.flush()
            before = time.monotonic()
            timeout = self.next_timeout(before)
            try:
                ready = select.select(fds, [], [], timeout)[0]
            except InterruptedError:
                continue
            if not ready and self.adaptive and timeout:
                overshoot = time.monotonic() - before - timeout
                if 0 <= overshoot < 0.002:  # ignore preemptions: not the timer's doing
                    self.advance += 0.05 * (overshoot - self.advance)
            if wakeup_fd is not None and wakeup_fd in ready:
                try:
                    os.read(wakeup_fd, 512)
                except OSError:
                    pass
            if self.sock in ready:
                self.receive(slept_since=before if timeout is None or timeout > 0 else None)
                if self.out:  # drops and unknown queues: answer at once
                    self.flush()

    def release_all(self):
        for q in self.queues.values():
            held = [pid for _, pid, copy in q.pending if copy is None]
            for _, _, copy in q.pending:
                if copy is not None:
                    self._send(copy)
            if held:
                self.out.append(verdict(q.num, held[-1], NF_ACCEPT, batch=True))
            q.accepted += len(q.pending)
            q.pending.clear()
        if self.out:
            self.flush()

    def stats(self):
        lines = ["%r: received %d, accepted %d, dropped %d, held %d" % (
            q, q.received, q.accepted, q.dropped, len(q.pending)) for q in self.queues.values()]
        mean = self.late_sum / self.late_n * 1e6 if self.late_n else 0.0
        lines.append("release lateness: mean %.1f us, max %.1f us; advance %.1f us; socket overruns %d; "
                     "re-injection errors %d" % (mean, self.late_max * 1e6, self.advance * 1e6, self.overruns,
                                                  self.send_errors))
        return "\n".join(lines)

    def say(self, text):
        if self.log is not None:
            self.log.write("enoslib-delayd: %s\n" % text)
            self.log.flush()


def _precise_timers():
    """Ask for 1 ns timer slack (default 50 us): select() wakes closer to its timeout."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(29, 1, 0, 0, 0)  # PR_SET_TIMERSLACK
    except Exception:
        pass


def _write_pidfile(path):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(tmp, path)


def main(argv=None):
    """The daemon's command line (``--queue``, ``--reinject-queue`` ...); runs until stopped."""
    parser = argparse.ArgumentParser(prog="enoslib-delayd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queue", action="append", type=parse_queue, default=[],
                        metavar="NUM:DELAY_MS:LOSS_PCT[:JITTER_MS]", help="packets held in the kernel")
    parser.add_argument("--reinject-queue", action="append", type=parse_reinject_queue, default=[],
                        metavar="NUM:DELAY_MS:LOSS_PCT[:JITTER_MS]",
                        help="packets copied, dropped, and sent again (outgoing traffic)")
    parser.add_argument("--mark", type=lambda v: int(v, 0), default=0x454E,
                        help="firewall mark of re-injected packets (default 0x454e)")
    parser.add_argument("--pidfile")
    parser.add_argument("--maxlen", type=int, default=65536, help="packets held per queue")
    parser.add_argument("--advance-us", type=float, default=None,
                        help="release packets this early, to offset wake-up latency "
                             "(default: learnt from the measured wake-ups)")
    parser.add_argument("--nice", type=int, default=-5, help="scheduling niceness (root only below 0)")
    parser.add_argument("--seed", type=int, help="random seed for losses and jitter")
    args = parser.parse_args(argv)

    queues = args.queue + args.reinject_queue
    nums = [q.num for q in queues]
    if not queues:
        parser.error("no queue: give --queue or --reinject-queue")
    if len(set(nums)) != len(nums):
        parser.error("a queue number is given twice")
    try:
        os.setsid()  # our own session: the ssh session or shell that started us may go
    except OSError:
        pass
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if args.nice:
        try:
            os.nice(args.nice)
        except OSError:
            pass
    _precise_timers()

    daemon = Delayd(queues, maxlen=args.maxlen, advance_us=args.advance_us, mark=args.mark)
    if args.seed is not None:
        daemon.random.seed(args.seed)
    rfd, wfd = os.pipe()
    for fd in (rfd, wfd):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wfd)

    def on_stop(signum, frame):
        daemon.stop = True

    def on_stats(signum, frame):
        daemon.say(daemon.stats())

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR1, on_stats)

    try:
        daemon.bind()
    except (NetlinkError, OSError) as e:
        daemon.say("error: %s" % e)
        return 1
    for q in queues:
        daemon.say("bound %r" % q)
    if args.pidfile:
        _write_pidfile(args.pidfile)
    try:
        daemon.run(wakeup_fd=rfd)
    finally:
        try:
            daemon.release_all()
        except OSError:
            pass
        daemon.unbind()
        daemon.say("stopping\n" + daemon.stats())
        if args.pidfile:
            try:
                with open(args.pidfile) as f:
                    mine = f.read().strip() == str(os.getpid())
                if mine:
                    os.unlink(args.pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
