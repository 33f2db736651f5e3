#!/usr/bin/env python3
"""The frontend's aggregation tools, as the emulator installs them on each frontend.

Standalone (standard library only): the emulator writes this file as ``serial_aggregator`` and
``sniffer_aggregator`` into the frontend's ``/usr/local/bin``; the name it is run under picks
the tool.

* ``serial_aggregator -l grenoble,m3,1-3+5`` -- connects to each board's serial port
  (``<node>:20000``) and prints ``<time>;<node>;<line>`` for every line a board prints.
* ``sniffer_aggregator -l grenoble,m3,1 -o out.pcap`` -- connects to each board's sniffer
  stream (``<node>:30000``, 4-byte length + 802.15.4 frame) and writes a pcap file
  (link type 195, IEEE 802.15.4 with FCS).
"""

import argparse
import os
import selectors
import signal
import socket
import struct
import sys
import time

SERIAL_PORT = 20000
SNIFFER_PORT = 30000
DOMAIN = "iot-lab.info"


def parse_nodes(specs):
    """``["grenoble,m3,1-3+5"]`` -> node addresses."""
    out = []
    for spec in specs:
        for part in spec.split(" "):
            site, archi, numbers = part.split(",", 2)
            for chunk in numbers.replace(",", "+").split("+"):
                if "-" in chunk:
                    lo, hi = chunk.split("-", 1)
                    out += [f"{archi}-{n}.{site}.{DOMAIN}" for n in range(int(lo), int(hi) + 1)]
                elif chunk:
                    out.append(f"{archi}-{int(chunk)}.{site}.{DOMAIN}")
    return out


def connect(address, port, tries=20):
    """A TCP connection to a board's endpoint, retried while it starts (None if it never does)."""
    for attempt in range(tries):
        try:
            return socket.create_connection((address, port), timeout=5)
        except OSError as exc:
            if attempt == tries - 1:
                print(f"cannot connect to {address}:{port}: {exc}", file=sys.stderr, flush=True)
                return None
            time.sleep(0.2)
    return None


def _boards(lists, port):
    """A selector over the selected boards' endpoints on ``port``; each key's data is
    ``[board name, bytes not consumed yet]``."""
    sel = selectors.DefaultSelector()
    for address in parse_nodes(lists):
        sock = connect(address, port)
        if sock is not None:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, [address.split(".")[0], b""])
    return sel


def _received(sel):
    """``(state, data)`` for every read from the boards of ``sel`` until all have closed."""
    while sel.get_map():
        for key, _ in sel.select():
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                continue
            yield key.data, data


def serial_main(argv):
    """``serial_aggregator -l site,archi,numbers``: every selected board's serial lines, prefixed
    with the board's name, on stdout."""
    parser = argparse.ArgumentParser(prog="serial_aggregator")
    parser.add_argument("-l", "--list", action="append", required=True, help="site,archi,numbers")
    args = parser.parse_args(argv)
    sel = _boards(args.list, SERIAL_PORT)
    if not sel.get_map():
        return 1
    for state, data in _received(sel):
        *lines, state[1] = (state[1] + data).split(b"\n")
        for line in lines:
            text = line.decode(errors="replace").rstrip("\r")
            sys.stdout.write(f"{time.time():.6f};{state[0]};{text}\n")
        sys.stdout.flush()
    return 0


def sniffer_main(argv):
    """``sniffer_aggregator -l site,archi,numbers -o FILE``: the selected boards' radio frames
    into one pcap file."""
    parser = argparse.ArgumentParser(prog="sniffer_aggregator")
    parser.add_argument("-l", "--list", action="append", required=True, help="site,archi,numbers")
    parser.add_argument("-o", "--outfile", required=True)
    args = parser.parse_args(argv)
    sel = _boards(args.list, SNIFFER_PORT)
    out = open(args.outfile, "wb")
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 195))
    out.flush()
    for state, data in _received(sel):
        buf = state[1] + data
        while len(buf) >= 4:
            size = struct.unpack(">I", buf[:4])[0]
            if len(buf) < 4 + size:
                break
            frame, buf = buf[4:4 + size], buf[4 + size:]
            now = time.time()
            out.write(struct.pack("<IIII", int(now), int(now % 1 * 1e6), len(frame), len(frame)) + frame)
            out.flush()
        state[1] = buf
    out.close()
    return 0


def main():
    """Entry point of the frontend tools: ``serial_aggregator`` or ``sniffer_aggregator`` by name."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    name = os.path.basename(sys.argv[0])
    try:
        if "sniffer" in name:
            return sniffer_main(sys.argv[1:])
        return serial_main(sys.argv[1:])
    except (KeyboardInterrupt, BrokenPipeError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
