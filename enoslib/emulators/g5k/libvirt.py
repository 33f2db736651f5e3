"""libvirt/QEMU on emulated nodes: ``virsh``, ``qemu-img`` and ``genisoimage``, answered by the
emulator through the nodes' command channel (:mod:`.guests`), with the real tools' syntax for
what they are used for and their error messages.

* ``qemu-img create -f qcow2 [-F fmt] (-b BASE | -o backing_file=BASE) FILE [SIZE]``,
  ``qemu-img convert [-f fmt] -O fmt SRC DST``, ``qemu-img info FILE``: images are small real
  files in the node (a qcow2 header naming the backing file); the base images of the testbed's
  NFS (``/grid5000/virt-images/*.qcow2``, :data:`VIRT_IMAGES`) exist on every node.
* ``genisoimage -output ISO -volid cidata -joliet -rock FILES`` (also ``-o``): an ISO holding
  the files (a cloud-init seed).
* ``virsh create|define FILE``, ``start|destroy|undefine|domstate|dominfo NAME``,
  ``list [--all] [--name] [--state-running]``, ``nodeinfo``, ``version``: a running domain is a
  guest (:class:`.guests.GuestHosts`) named after the domain (or the seed's hostname), with the
  domain's MAC, the IP the testbed's DHCP gives that MAC (``00:16:3e:XX:YY:ZZ`` ->
  ``10.XX.YY.ZZ``, if it is in the site's g5k subnets; otherwise no lease: no network), the
  seed's ``ssh_authorized_keys`` for root and the OS of its base image (``/etc/os-release``).
  Fails like libvirt: unknown domain, disk or backing image missing, bridge other than ``br0``,
  domain already existing or active, not enough memory left on the node (its ``main_memory``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from .guests import GuestError, ToolCall
from .images import etc_files
from .reference import NodeRef

__all__ = ["VIRT_IMAGES", "Domain", "Libvirt", "mac_to_ip"]

VIRT_IMAGES_DIR = "/grid5000/virt-images"
#: base images on the testbed's NFS: name -> kadeploy-like environment (what the guest runs)
VIRT_IMAGES = {
    "debian10-x64-base.qcow2": "debian10-min",
    "debian11-x64-base.qcow2": "debian11-min",
    "debian11-x64-nfs.qcow2": "debian11-nfs",
    "debian12-x64-base.qcow2": "debian12-min",
    "debiantesting-x64-base.qcow2": "debiantesting-min",
    "ubuntu2204-x64-base.qcow2": "ubuntu2204-min",
    "ubuntu2404-x64-base.qcow2": "ubuntu2404-min",
}
VIRT_IMAGE_SIZE = 10 * 1024**3
BRIDGES = ("br0",)  # what the standard environment sets up on the primary NIC
QCOW2_MAGIC = b"QFI\xfb"
ISO_MARKER = b"ENOSLIB-EMULATED-ISO9660\n"
LIBVIRT_VERSION = "9.0.0"
UNITS = {"b": 1, "bytes": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2,
         "mb": 1000**2, "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4, "tib": 1024**4}


def mac_to_ip(mac: str) -> str | None:
    """The address the testbed's DHCP gives a VM MAC: ``00:16:3e:XX:YY:ZZ`` -> ``10.XX.YY.ZZ``."""
    parts = mac.lower().split(":")
    if len(parts) != 6 or parts[:3] != ["00", "16", "3e"]:
        return None
    try:
        return "10." + ".".join(str(int(p, 16)) for p in parts[3:])
    except ValueError:
        return None


def _size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", text.strip())
    if not m:
        raise ValueError(text)
    unit = m.group(2).lower() or "b"
    if unit not in UNITS and unit[:1] in UNITS:
        unit = unit[:1]
    return int(float(m.group(1)) * UNITS[unit])


def qcow2_header(size: int, backing: str | None = None, origin: str | None = None) -> bytes:
    """A qcow2 (v3) header, the backing file name after it (and our origin note)."""
    name = (backing or "").encode()
    head = struct.pack(
        ">4sIQIIQIIQQIIQQQQII", QCOW2_MAGIC, 3, 104 if name else 0, len(name), 16, size,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 104,
    )
    tail = b"\0ENOSLIB-ORIGIN:" + origin.encode() + b"\n" if origin else b""
    return head + name + tail


def read_qcow2(data: bytes) -> dict[str, Any] | None:
    """``{"size", "backing", "origin"}`` of a header written by :func:`qcow2_header`."""
    if len(data) < 104 or data[:4] != QCOW2_MAGIC:
        return None
    _, _, off, length, _, size = struct.unpack(">4sIQIIQ", data[:32])
    backing = data[off: off + length].decode() if off and length else None
    m = re.search(rb"ENOSLIB-ORIGIN:([^\n]*)\n", data)
    return {"size": size, "backing": backing, "origin": m.group(1).decode() if m else None}


@dataclass
class Domain:
    """A libvirt domain of a node: its XML, size, MAC; ``guest``: the guest it runs as."""

    name: str
    xml: str
    memory_mb: int
    vcpus: int
    mac: str | None
    persistent: bool = False
    running: bool = False
    id: int | None = None
    guest: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)


class Libvirt:
    """The libvirt state of every node, and the tools answering the nodes' commands."""

    TOOLS = ("virsh", "qemu-img", "genisoimage")

    def __init__(self, emu: Any) -> None:
        self.emu = emu
        self.domains: dict[str, dict[str, Domain]] = {}  # fqdn -> name -> domain
        self._ids: dict[str, int] = {}
        emu.guests.listeners.append(self._on_nodes)
        for tool, handler in (("virsh", self.virsh), ("qemu-img", self.qemu_img),
                              ("genisoimage", self.genisoimage)):
            emu.channel.register(tool, handler, available=self.available)

    @staticmethod
    def available(environment: str | None) -> bool:
        """libvirt/QEMU are part of the standard environment (and of ``*-std``/``*-big``)."""
        if environment is None:
            return True
        variant = environment.split("@")[0].partition("-")[2]
        return variant in ("std", "big")

    def _on_nodes(self, event: str, nodes: Any, gone: list[str]) -> None:
        for n in nodes:  # a job end or a redeployment: libvirt's state is gone too
            self.domains.pop(n.fqdn, None)

    # -- files ------------------------------------------------------------------------
    def _exists(self, call: ToolCall, path: str) -> bool:
        full = call.absolute(path)
        if full.startswith(VIRT_IMAGES_DIR + "/"):
            return os.path.basename(full) in VIRT_IMAGES
        return os.path.isfile(call.path(full))

    def _read(self, call: ToolCall, path: str, limit: int = 1 << 20) -> bytes:
        full = call.absolute(path)
        if full.startswith(VIRT_IMAGES_DIR + "/"):
            if os.path.basename(full) not in VIRT_IMAGES:
                raise FileNotFoundError(full)
            return qcow2_header(VIRT_IMAGE_SIZE, origin=full)
        with open(call.path(full), "rb") as f:
            return f.read(limit)

    def _write(self, call: ToolCall, path: str, data: bytes) -> None:
        full = call.absolute(path)
        if full.startswith(VIRT_IMAGES_DIR + "/"):
            raise PermissionError(f"{full}: Read-only file system")
        with open(call.path(full), "wb") as f:
            f.write(data)

    def _chain(self, call: ToolCall, path: str) -> tuple[str | None, str | None]:
        """(base image of ``path`` in :data:`VIRT_IMAGES` or None, a missing file or None)."""
        seen = 0
        current: str | None = path
        while current and seen < 16:
            seen += 1
            if not self._exists(call, current):
                return None, current
            info = read_qcow2(self._read(call, current, 64 * 1024)) or {}
            origin = info.get("origin")
            if origin:
                return os.path.basename(origin), None
            backing = info.get("backing")
            if backing and not backing.startswith("/"):
                backing = os.path.join(os.path.dirname(call.absolute(current)), backing)
            current = backing
        return None, None

    # -- qemu-img ---------------------------------------------------------------------------
    def qemu_img(self, call: ToolCall) -> tuple[int, str, str]:
        argv = call.argv
        if not argv or argv[0] in ("-h", "--help"):
            return 0, "qemu-img version 7.2.0 (emulated)\nusage: qemu-img [standard options] command [command options]\n", ""
        if argv[0] in ("-V", "--version"):
            return 0, "qemu-img version 7.2.0 (Debian 1:7.2+dfsg-7)\n", ""
        cmd, args = argv[0], argv[1:]
        if cmd == "create":
            return self._img_create(call, args)
        if cmd == "convert":
            return self._img_convert(call, args)
        if cmd == "info":
            return self._img_info(call, args)
        return 1, "", f"qemu-img: Command not found: {cmd}\n"

    @staticmethod
    def _options(args: list[str], with_value: set[str]) -> tuple[dict[str, str], list[str]]:
        opts: dict[str, str] = {}
        rest: list[str] = []
        it = iter(args)
        for a in it:
            if a in with_value:
                opts[a] = next(it, "")
            elif a.startswith("-") and len(a) > 1 and a not in ("-q", "-p", "-u", "-c"):
                opts[a] = ""
            elif a.startswith("-"):
                continue
            else:
                rest.append(a)
        return opts, rest

    def _img_create(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        opts, rest = self._options(args, {"-f", "-F", "-b", "-o"})
        if not rest:
            return 1, "", "qemu-img: Expecting image file name\n"
        out = rest[0]
        fmt = opts.get("-f", "raw")
        extra = dict(kv.partition("=")[::2] for kv in opts.get("-o", "").split(",") if kv)
        backing = opts.get("-b") or extra.get("backing_file") or None
        size = None
        if len(rest) > 1:
            try:
                size = _size(rest[1])
            except (ValueError, KeyError):
                return 1, "", ("qemu-img: Invalid image size specified. You may use k, M, G, T, P or E "
                               "suffixes for\nqemu-img: kilobytes, megabytes, gigabytes, terabytes, "
                               "petabytes and exabytes.\n")
        if backing:
            if fmt != "qcow2":
                return 1, "", f"qemu-img: {out}: Format driver '{fmt}' does not support backing files\n"
            full = backing if backing.startswith("/") else os.path.join(
                os.path.dirname(call.absolute(out)), backing)
            if not self._exists(call, full):
                return 1, "", (f"qemu-img: {out}: Could not open backing file: Could not open "
                               f"'{full}': No such file or directory\n")
            base = read_qcow2(self._read(call, full, 64 * 1024)) or {}
            size = size or base.get("size") or VIRT_IMAGE_SIZE
        if size is None:
            return 1, "", f"qemu-img: {out}: Image creation needs a size parameter\n"
        data = qcow2_header(size, backing) if fmt == "qcow2" else b""
        try:
            self._write(call, out, data)
            if fmt == "raw":
                os.truncate(call.path(call.absolute(out)), size)
        except OSError as exc:
            return 1, "", f"qemu-img: {out}: Could not create '{out}': {exc.strerror or exc}\n"
        shown = (f"Formatting '{out}', fmt={fmt} cluster_size=65536 extended_l2=off "
                 f"compression_type=zlib size={size}"
                 + (f" backing_file={backing} backing_fmt={opts.get('-F', 'qcow2')}" if backing else "")
                 + " lazy_refcounts=off refcount_bits=16\n") if fmt == "qcow2" else (
                     f"Formatting '{out}', fmt=raw size={size}\n")
        return 0, shown, ""

    def _img_convert(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        opts, rest = self._options(args, {"-f", "-O", "-o"})
        if len(rest) < 2:
            return 1, "", "qemu-img: Expecting one image file name\n"
        src, dst = rest[0], rest[-1]
        base, missing = self._chain(call, src)
        if missing is not None:
            return 1, "", f"qemu-img: Could not open '{src}': Could not open '{missing}': No such file or directory\n"
        info = read_qcow2(self._read(call, src, 64 * 1024)) or {}
        origin = f"{VIRT_IMAGES_DIR}/{base}" if base else None
        try:
            self._write(call, dst, qcow2_header(info.get("size") or VIRT_IMAGE_SIZE, origin=origin))
        except OSError as exc:
            return 1, "", f"qemu-img: {dst}: error while converting qcow2: {exc.strerror or exc}\n"
        return 0, "", ""

    def _img_info(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        _, rest = self._options(args, {"-f", "--output"})
        if not rest:
            return 1, "", "qemu-img: Expecting one image file name\n"
        path = rest[0]
        if not self._exists(call, path):
            return 1, "", f"qemu-img: Could not open '{path}': Could not open '{path}': No such file or directory\n"
        info = read_qcow2(self._read(call, path, 64 * 1024))
        if info is None:
            size = os.path.getsize(call.path(call.absolute(path)))
            return 0, f"image: {path}\nfile format: raw\nvirtual size: {size} B ({size} bytes)\n", ""
        lines = [f"image: {path}", "file format: qcow2",
                 f"virtual size: {info['size'] // 1024**3} GiB ({info['size']} bytes)", "cluster_size: 65536"]
        if info.get("backing"):
            lines.append(f"backing file: {info['backing']}")
        return 0, "\n".join(lines) + "\n", ""

    # -- genisoimage --------------------------------------------------------------------------
    def genisoimage(self, call: ToolCall) -> tuple[int, str, str]:
        argv, out, volid, inputs = call.argv, None, "", []
        it = iter(argv)
        for a in it:
            if a in ("-output", "-o"):
                out = next(it, None)
            elif a in ("-volid", "-V"):
                volid = next(it, "")
            elif a.startswith("-"):
                continue
            else:
                inputs.append(a)
        if out is None:
            return 1, "", "genisoimage: No output file specified (-o).\n"
        files = {}
        for path in inputs:
            if not self._exists(call, path):
                return 1, "", f"genisoimage: No such file or directory. Invalid node - '{path}'.\n"
            files[os.path.basename(path)] = self._read(call, path).decode(errors="replace")
        payload = json.dumps({"volid": volid, "files": files}).encode()
        try:
            self._write(call, out, ISO_MARKER + payload + b"\n")
        except OSError as exc:
            return 1, "", f"genisoimage: Unable to open disc image file '{out}': {exc.strerror or exc}\n"
        return 0, "", f"Total extents written = {176 + len(payload) // 2048}\n"

    def _seed(self, call: ToolCall, path: str) -> dict[str, Any]:
        data = self._read(call, path)
        if not data.startswith(ISO_MARKER):
            return {}
        try:
            doc = json.loads(data[len(ISO_MARKER):])
        except ValueError:
            return {}
        if str(doc.get("volid", "")).lower() != "cidata":
            return {}
        import yaml

        seed: dict[str, Any] = {"keys": []}
        for name in ("meta-data", "user-data"):
            try:
                parsed = yaml.safe_load(doc["files"].get(name) or "") or {}
            except yaml.YAMLError:
                parsed = {}
            if not isinstance(parsed, dict):
                continue
            seed["hostname"] = parsed.get("local-hostname") or parsed.get("hostname") or seed.get("hostname")
            seed["keys"] += [str(k) for k in parsed.get("ssh_authorized_keys") or []]
            for user in parsed.get("users") or []:
                if isinstance(user, dict):
                    seed["keys"] += [str(k) for k in user.get("ssh_authorized_keys") or []]
        return seed

    # -- virsh ------------------------------------------------------------------------------------
    def virsh(self, call: ToolCall) -> tuple[int, str, str]:
        argv = list(call.argv)
        while argv and argv[0].startswith("-"):
            flag = argv.pop(0)
            if flag in ("-c", "--connect") and argv:
                argv.pop(0)
            elif flag in ("-v", "--version"):
                return 0, LIBVIRT_VERSION + "\n", ""
        if not argv:
            return 0, "Welcome to virsh, the virtualization interactive terminal.\n", ""
        cmd, args = argv[0], argv[1:]
        handler = {
            "list": self._list, "create": self._create, "define": self._define,
            "start": self._start, "destroy": self._destroy, "undefine": self._undefine,
            "domstate": self._domstate, "dominfo": self._dominfo, "nodeinfo": self._nodeinfo,
            "version": self._version,
        }.get(cmd)
        if handler is None:
            return 1, "", f"error: unknown command: '{cmd}'\n"
        return handler(call, args)

    def _mine(self, node: NodeRef) -> dict[str, Domain]:
        return self.domains.setdefault(node.fqdn, {})

    def _lookup(self, call: ToolCall, args: list[str]) -> Domain | tuple[int, str, str]:
        names = [a for a in args if not a.startswith("-")]
        if not names:
            return 1, "", "error: command requires <domain> option\n"
        domains = self._mine(call.node)
        found = domains.get(names[0]) or next(
            (d for d in domains.values() if d.id is not None and str(d.id) == names[0]), None)
        if found is None:
            return 1, "", f"error: failed to get domain '{names[0]}'\n"
        return found

    def _version(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        return 0, (f"Compiled against library: libvirt {LIBVIRT_VERSION}\nUsing library: libvirt "
                   f"{LIBVIRT_VERSION}\nUsing API: QEMU {LIBVIRT_VERSION}\nRunning hypervisor: QEMU 7.2.0\n"), ""

    def _nodeinfo(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        cap = call.guests.capacity(call.node)
        rows = [("CPU model", "x86_64"), ("CPU(s)", cap["threads"]), ("CPU frequency", "2400 MHz"),
                ("CPU socket(s)", 1), ("Core(s) per socket", cap["cores"]),
                ("Thread(s) per core", max(1, cap["threads"] // cap["cores"])), ("NUMA cell(s)", 1),
                ("Memory size", f"{cap['memory_mb'] * 1024} KiB")]
        return 0, "".join(f"{k + ':':<20}{v}\n" for k, v in rows) + "\n", ""

    def _list(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        domains = list(self._mine(call.node).values())
        if "--all" in args:
            shown = domains
        elif "--inactive" in args:
            shown = [d for d in domains if not d.running]
        else:
            shown = [d for d in domains if d.running]
        if "--name" in args:
            return 0, "".join(d.name + "\n" for d in shown) + "\n", ""
        lines = [" Id   Name" + " " * max(0, max((len(d.name) for d in shown), default=4) - 1) + "State",
                 "-" * (20 + max((len(d.name) for d in shown), default=4))]
        width = max((len(d.name) for d in shown), default=4) + 3
        for d in shown:
            lines.append(f" {str(d.id) if d.running else '-':<4} {d.name:<{width}}"
                         f"{'running' if d.running else 'shut off'}")
        return 0, "\n".join(lines) + "\n\n", ""

    def _parse(self, call: ToolCall, path: str, verb: str) -> Domain | tuple[int, str, str]:
        if not self._exists(call, path):
            return 1, "", (f"error: Failed to read file '{path}' to {verb} domain from\n"
                           f"error: Failed to open file '{path}': No such file or directory\n")
        text = self._read(call, path).decode(errors="replace")
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            return 1, "", f"error: Failed to {verb} domain from {path}\nerror: (domain_definition):1: {exc}\n"
        if root.tag != "domain":
            return 1, "", (f"error: Failed to {verb} domain from {path}\nerror: XML error: unexpected "
                           f"root element <{root.tag}>, expecting <domain>\n")
        name = (root.findtext("name") or "").strip()
        if not name:
            return 1, "", f"error: Failed to {verb} domain from {path}\nerror: XML error: missing domain name information\n"
        mem = root.find("memory")
        try:
            memory = _size((mem.text or "0") + (mem.get("unit") or "KiB")) if mem is not None else 0
            vcpus = int((root.findtext("vcpu") or "1").strip())
        except (ValueError, KeyError):
            return 1, "", f"error: Failed to {verb} domain from {path}\nerror: XML error: malformed memory or vcpu\n"
        disks = [
            (d.get("device", "disk"), (d.find("source").get("file") if d.find("source") is not None else None))
            for d in root.iter("disk")
        ]
        bridges, macs = [], []
        for itf in root.iter("interface"):
            src = itf.find("source")
            if itf.get("type") == "bridge" and src is not None:
                bridges.append(src.get("bridge"))
            mac = itf.find("mac")
            if mac is not None and mac.get("address"):
                macs.append(mac.get("address").lower())
        spec = {"disks": disks, "bridges": bridges, "macs": macs, "type": root.get("type")}
        return Domain(name, text, memory // (1024 * 1024), vcpus, macs[0] if macs else None, spec=spec)

    def _define(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        files = [a for a in args if not a.startswith("-")]
        if not files:
            return 1, "", "error: command 'define' requires <file> option\n"
        dom = self._parse(call, files[0], "define")
        if isinstance(dom, tuple):
            return dom
        domains = self._mine(call.node)
        old = domains.get(dom.name)
        if old is not None and old.running:
            old.xml, old.spec, old.persistent = dom.xml, dom.spec, True  # takes effect at next start
        else:
            dom.persistent = True
            domains[dom.name] = dom
        return 0, f"Domain '{dom.name}' defined from {files[0]}\n\n", ""

    def _create(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        files = [a for a in args if not a.startswith("-")]
        if not files:
            return 1, "", "error: command 'create' requires <file> option\n"
        dom = self._parse(call, files[0], "create")
        if isinstance(dom, tuple):
            return dom
        domains = self._mine(call.node)
        if dom.name in domains:
            return 1, "", (f"error: Failed to create domain from {files[0]}\nerror: operation failed: "
                           f"domain '{dom.name}' already exists with uuid {_uuid(call.node, dom.name)}\n")
        failed = self._boot(call, dom)
        if failed:
            return 1, "", f"error: Failed to create domain from {files[0]}\n" + failed
        domains[dom.name] = dom
        return 0, f"Domain '{dom.name}' created from {files[0]}\n\n", ""

    def _start(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        dom = self._lookup(call, args)
        if isinstance(dom, tuple):
            return dom
        if dom.running:
            return 1, "", "error: Failed to start domain '%s'\nerror: Requested operation is not valid: domain is already running\n" % dom.name
        fresh = self._parse_text(dom)
        failed = self._boot(call, fresh)
        if failed:
            return 1, "", f"error: Failed to start domain '{dom.name}'\n" + failed
        dom.running, dom.id, dom.guest = True, fresh.id, fresh.guest
        dom.memory_mb, dom.vcpus, dom.mac = fresh.memory_mb, fresh.vcpus, fresh.mac
        return 0, f"Domain '{dom.name}' started\n\n", ""

    def _parse_text(self, dom: Domain) -> Domain:
        fresh = Domain(dom.name, dom.xml, dom.memory_mb, dom.vcpus, dom.mac, spec=dict(dom.spec))
        return fresh

    def _boot(self, call: ToolCall, dom: Domain) -> str | None:
        """Start ``dom`` as a guest; None, or libvirt's error lines."""
        if dom.spec.get("type") not in (None, "kvm", "qemu"):
            return f"error: invalid argument: unknown domain type '{dom.spec.get('type')}'\n"
        base = None
        seed: dict[str, Any] = {}
        for device, source in dom.spec["disks"]:
            if not source:
                continue
            if not self._exists(call, source):
                return (f"error: Cannot access storage file '{call.absolute(source)}' "
                        f"(as uid:64055, gid:64055): No such file or directory\n")
            if device == "cdrom":
                seed = self._seed(call, source) or seed
                continue
            found, missing = self._chain(call, source)
            if missing is not None:
                return (f"error: Cannot access backing file '{missing}' of storage file "
                        f"'{call.absolute(source)}' (as uid:64055, gid:64055): No such file or directory\n")
            base = base or found
        for bridge in dom.spec["bridges"]:
            if bridge not in BRIDGES:
                return f"error: Cannot get interface MTU on '{bridge}': No such device\n"
        ip = mac_to_ip(dom.mac) if dom.mac else None
        if ip is not None and not call.guests.subnet_of(call.node.site, ip):
            ip = None  # no DHCP lease for it: the VM runs, unreachable
        if not dom.spec["bridges"]:
            ip = None
        files = None
        if base and VIRT_IMAGES.get(base):
            files = etc_files(VIRT_IMAGES[base])
        name = _guest_name(seed.get("hostname") or dom.name)
        if call.emu.faults.take_guest_failure():
            return ("error: internal error: process exited while connecting to monitor: "
                    "qemu-system-x86_64: failed to initialize kvm: Cannot allocate memory (injected)\n")
        try:
            call.guests.create(
                name, call.node, ip=ip, mac=dom.mac, memory_mb=dom.memory_mb, vcpus=dom.vcpus,
                kind="vm", keys=seed.get("keys") or (), files=files,
                data={"domain": dom.name, "image": base},
            )
        except GuestError as exc:
            if "memory" in str(exc):
                return ("error: internal error: qemu unexpectedly closed the monitor: "
                        f"qemu-system-x86_64: cannot set up guest memory 'pc.ram': Cannot allocate memory\n")
            return f"error: internal error: process exited while connecting to monitor: {exc}\n"
        self._ids[call.node.fqdn] = self._ids.get(call.node.fqdn, 0) + 1
        dom.running, dom.id, dom.guest = True, self._ids[call.node.fqdn], name
        return None

    def _destroy(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        dom = self._lookup(call, args)
        if isinstance(dom, tuple):
            return dom
        if not dom.running:
            return 1, "", (f"error: Failed to destroy domain '{dom.name}'\nerror: Requested operation "
                           "is not valid: domain is not running\n")
        if dom.guest:
            call.guests.remove([dom.guest])
        dom.running, dom.id, dom.guest = False, None, None
        if not dom.persistent:
            del self._mine(call.node)[dom.name]
        return 0, f"Domain '{dom.name}' destroyed\n\n", ""

    def _undefine(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        dom = self._lookup(call, args)
        if isinstance(dom, tuple):
            return dom
        if not dom.persistent:
            return 1, "", (f"error: Failed to undefine domain '{dom.name}'\nerror: Requested operation "
                           "is not valid: cannot undefine transient domain\n")
        if dom.running:
            dom.persistent = False  # becomes transient, goes away when destroyed
        else:
            del self._mine(call.node)[dom.name]
        return 0, f"Domain '{dom.name}' has been undefined\n\n", ""

    def _domstate(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        dom = self._lookup(call, args)
        if isinstance(dom, tuple):
            return dom
        return 0, ("running" if dom.running else "shut off") + "\n\n", ""

    def _dominfo(self, call: ToolCall, args: list[str]) -> tuple[int, str, str]:
        dom = self._lookup(call, args)
        if isinstance(dom, tuple):
            return dom
        rows = [("Id", dom.id if dom.running else "-"), ("Name", dom.name),
                ("UUID", _uuid(call.node, dom.name)), ("OS Type", "hvm"),
                ("State", "running" if dom.running else "shut off"), ("CPU(s)", dom.vcpus),
                ("Max memory", f"{dom.memory_mb * 1024} KiB"), ("Used memory", f"{dom.memory_mb * 1024} KiB"),
                ("Persistent", "yes" if dom.persistent else "no")]
        return 0, "".join(f"{k + ':':<16}{v}\n" for k, v in rows) + "\n", ""

    # -- for tests and leak checks ---------------------------------------------------------------
    def running(self) -> list[tuple[str, str]]:
        """``(node fqdn, domain)`` of every running domain."""
        return [(f, d.name) for f, doms in self.domains.items() for d in doms.values() if d.running]


def _uuid(node: NodeRef, name: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.{node.fqdn}"))


def _guest_name(name: str) -> str:
    """A hostname for the guest's lab host (the domain name, made a valid hostname)."""
    cleaned = re.sub(r"[^A-Za-z0-9.-]", "-", name).strip("-.")[:63] or "guest"
    try:
        ipaddress.ip_address(cleaned)
        cleaned = "vm-" + cleaned.replace(".", "-")
    except ValueError:
        pass
    return cleaned
