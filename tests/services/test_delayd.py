"""The userspace delay daemon's nfnetlink_queue messages and release logic (no kernel needed)."""

import socket
import struct

import pytest

from enoslib.services import delayd as d


def packet_message(queue, packet_id, extra_first=False, payload=None, outdev=1):
    """A NFQNL_MSG_PACKET as the kernel sends it (packet header attribute first)."""
    hdr = d.nlattr(d.NFQA_PACKET_HDR, struct.pack("!IHB", packet_id, 0x0800, 3))
    other = d.nlattr(d.NFQA_IFINDEX_OUTDEV, struct.pack("!I", outdev))
    attrs = other + hdr if extra_first else hdr + other
    if payload is not None:
        attrs += d.nlattr(d.NFQA_PAYLOAD, payload)
    return d.nfq_message(d.NFQNL_MSG_PACKET, queue, attrs, flags=0, family=socket.AF_INET)


def error_message(seq, err):
    inner = struct.pack("=IHHII", 36, 0x302, 5, seq, 0)
    body = struct.pack("=i", -err) + inner
    return struct.pack("=IHHII", 16 + len(body), d.NLMSG_ERROR, 0, 0, 0) + body


def test_config_encoding():
    msg = d.config_cmd(7300, d.NFQNL_CFG_CMD_BIND, seq=9)
    length, mtype, flags, seq, portid = struct.unpack_from("=IHHII", msg)
    assert (length, mtype, flags, seq, portid) == (len(msg), (3 << 8) | 2, 1 | 4, 9, 0) and length == 28
    assert struct.unpack_from("!BBH", msg, 16) == (socket.AF_UNSPEC, 0, 7300)  # res_id big endian
    assert struct.unpack_from("=HH", msg, 20) == (8, d.NFQA_CFG_CMD)
    assert msg[24:28] == bytes([1, 0]) + struct.pack("!H", 0)
    params = d.config_params(1, maxlen=4096)
    # params: 4+5 bytes padded to 12, then the maxlen attribute
    assert struct.unpack_from("=HH", params, 20) == (9, d.NFQA_CFG_PARAMS)
    assert struct.unpack_from("!IB", params, 24) == (0, d.NFQNL_COPY_META)
    assert struct.unpack_from("=HH", params, 32) == (8, d.NFQA_CFG_QUEUE_MAXLEN)
    assert struct.unpack_from("!I", params, 36) == (4096,) and len(params) == 40
    flags = d.config_flags(1, d.NFQA_CFG_F_GSO, d.NFQA_CFG_F_GSO | d.NFQA_CFG_F_FAIL_OPEN)
    assert d.parse_attrs(flags, 20, len(flags)) == {d.NFQA_CFG_MASK: struct.pack("!I", 5),
                                                     d.NFQA_CFG_FLAGS: struct.pack("!I", 4)}


def test_verdict_encoding():
    one = d.verdict(3, 42, d.NF_DROP)
    batch = d.verdict(3, 42, d.NF_ACCEPT, batch=True)
    assert struct.unpack_from("=IH", one) == (32, (3 << 8) | 1)
    assert struct.unpack_from("=IH", batch) == (32, (3 << 8) | 3)
    assert struct.unpack_from("!H", one, 18) == (3,)
    assert struct.unpack_from("=HH", one, 20) == (12, d.NFQA_VERDICT_HDR)
    assert struct.unpack_from("!II", batch, 24) == (d.NF_ACCEPT, 42)


def test_parse_messages():
    buf = bytearray(packet_message(7300, 5) + packet_message(7301, 6, extra_first=True)
                    + error_message(4, 0) + error_message(0, 2) + b"\0" * 10)
    messages = list(d.parse_messages(buf, len(buf) - 10))
    assert [m[:3] for m in messages] == [("packet", 7300, 5), ("packet", 7301, 6), ("error", 4, 0), ("error", 0, 2)]
    start, end = messages[1][3]
    assert d.parse_attrs(buf, start, end)[d.NFQA_IFINDEX_OUTDEV] == struct.pack("!I", 1)
    assert list(d.parse_messages(b"\x05\0\0\0")) == []  # truncated: nothing, no exception


def test_parse_queue():
    q = d.parse_queue("7300:10:1.5")
    assert (q.num, q.delay, q.loss, q.jitter) == (7300, 0.010, 0.015, 0.0)
    assert d.parse_queue("1:0.5:0:2").jitter == 0.002
    for bad in ("7300", "70000:1:0", "1:-1:0", "1:1:101", "1:x:0", "1:1:0:1:1"):
        with pytest.raises(ValueError):
            d.parse_queue(bad)


class FakeSocket:
    """recv_into hands out queued datagrams; send records what the daemon sends."""

    def __init__(self, datagrams=()):
        self.datagrams = list(datagrams)
        self.sent = []

    def recv_into(self, buf, size, flags=0):
        if not self.datagrams:
            raise BlockingIOError
        data = self.datagrams.pop(0)
        buf[:len(data)] = data
        return len(data)

    def send(self, data):
        self.sent.append(bytes(data))
        return len(data)


def sent_verdicts(sock):
    out = []
    for data in sock.sent:
        off = 0
        while off < len(data):
            length, mtype = struct.unpack_from("=IH", data, off)
            queue = struct.unpack_from("!H", data, off + 18)[0]
            decision, pid = struct.unpack_from("!II", data, off + 24)
            out.append(("batch" if mtype & 0xFF == 3 else "one", queue, decision, pid))
            off += length
    return out


def test_release_in_order_with_one_batch_verdict():
    sock = FakeSocket([packet_message(1, i) for i in (1, 2, 3)] + [packet_message(2, 7)])
    daemon = d.Delayd([d.QueueSpec(1, 10.0), d.QueueSpec(2, 1000.0)], sock=sock, log=None, advance_us=0)
    daemon.receive()
    assert [pid for _, pid, _ in daemon.queues[1].pending] == [1, 2, 3]
    first = daemon.queues[1].pending[0][0]
    daemon.release_due(first - 0.001)  # not yet
    assert daemon.out == []
    daemon.release_due(first + 0.005)  # queue 1 due, queue 2 (1 s) not
    daemon.flush()
    assert sent_verdicts(sock) == [("batch", 1, d.NF_ACCEPT, 3)]
    assert daemon.next_timeout(first) == pytest.approx(daemon.queues[2].pending[0][0] - first)
    daemon.release_all()  # on exit: nothing held is lost
    assert sent_verdicts(sock)[-1] == ("batch", 2, d.NF_ACCEPT, 7)


def test_loss_drops_at_once_and_jitter_keeps_order():
    sock = FakeSocket([packet_message(1, i) for i in range(1, 201)] + [packet_message(9, 1)])
    daemon = d.Delayd([d.QueueSpec(1, 5.0, loss_pct=50.0, jitter_ms=4.0)], sock=sock, log=None)
    daemon.random.seed(1)
    daemon.receive()
    q = daemon.queues[1]
    daemon.flush()
    verdicts = sent_verdicts(sock)
    drops = [v for v in verdicts if v[2] == d.NF_DROP]
    assert 70 <= len(drops) == q.dropped <= 130 and all(v[0] == "one" for v in drops)
    assert ("one", 9, d.NF_ACCEPT, 1) in verdicts  # a queue we do not serve: passed at once
    times = [t for t, _, _ in q.pending]
    ids = [pid for _, pid, _ in q.pending]
    assert times == sorted(times) and ids == sorted(ids) and len(ids) + len(drops) == 200


class FakeRaw:
    def __init__(self):
        self.sent = []

    def sendto(self, data, address):
        self.sent.append((bytes(data), address))


def ipv4_packet(size, dest=b"\x0a\x09\x00\x03"):
    header = bytes([0x45, 0]) + struct.pack("!H", size) + b"\0" * 8 + b"\x0a\x09\x00\x02" + dest
    return header + b"x" * (size - len(header))


def test_reinject_drops_the_original_at_once_and_sends_the_copy_later():
    small, big = ipv4_packet(1500), ipv4_packet(3000)
    sock = FakeSocket([packet_message(1, 1, payload=small), packet_message(1, 2, payload=big),
                       packet_message(1, 3, payload=small)])
    daemon = d.Delayd([d.QueueSpec(1, 10.0, reinject=True)], sock=sock, log=None, advance_us=0)
    daemon.mtus[1] = 1500
    raw = daemon.raw[socket.AF_INET] = FakeRaw()
    daemon.receive()
    daemon.flush()
    # the originals of 1 and 3 are dropped (their socket's budget is freed), 2 is too big: held
    assert sent_verdicts(sock) == [("one", 1, d.NF_DROP, 1), ("one", 1, d.NF_DROP, 3)]
    assert raw.sent == []
    daemon.release_due(daemon.queues[1].pending[-1][0])
    daemon.flush()
    assert raw.sent == [(small, ("10.9.0.3", 0)), (small, ("10.9.0.3", 0))]
    assert sent_verdicts(sock)[-1] == ("batch", 1, d.NF_ACCEPT, 2)


def test_reinject_queue_configuration():
    q = d.parse_reinject_queue("9:1:0")
    assert q.reinject and not d.parse_queue("9:1:0").reinject
    assert "re-injecting" in repr(q)
