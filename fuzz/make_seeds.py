#!/usr/bin/env python3
"""Writes the starting corpus of the `query` fuzz target to corpus-seeds/query/.

Each seed is `flags(1) model_len(2) model packet` (see fuzz_targets/query.rs):
plain and EDNS queries for every name kind of the demo zone, cookies, NSID,
the opcodes and types the fast path declines, and a few arbitrary zones.
Run it from anywhere; it only writes files.
"""
import os
import random
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus-seeds", "query")


def name(text):
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def opt(payload=1232, do=False, version=0, options=b""):
    flags = 0x8000 if do else 0
    return b"\0" + struct.pack(">HHBBHH", 41, payload, 0, version, flags, len(options)) + options


def option(code, data):
    return struct.pack(">HH", code, len(data)) + data


def query(qname, qtype, edns=None, flags=0x0100, opcode=0, qid=0x4242, qdcount=1):
    flags |= opcode << 11
    header = struct.pack(">HHHHHH", qid, flags, qdcount, 0, 0, 1 if edns is not None else 0)
    body = name(qname) + struct.pack(">HH", qtype, 1) if qdcount else b""
    return header + body + (edns or b"")


POD = "web-demo-0.nginx-demo.demo.svc.cluster.local"
SVC = "nginx-demo.demo.svc.cluster.local"
COOKIE = bytes.fromhex("2464c4abcf10c957")
SEEDS = {
    "a-plain": query(POD, 1),
    "a-edns": query(POD, 1, opt()),
    "a-edns-do-512": query(POD, 1, opt(512, do=True)),
    "aaaa": query("web-demo-1.nginx-demo.demo.svc.cluster.local", 28, opt()),
    "service-a": query(SVC, 1),
    "srv": query("_web._tcp." + SVC, 33, opt(4096)),
    "srv-no-edns": query("_web._tcp." + SVC, 33),
    "ptr": query("39.0.244.10.in-addr.arpa", 12),
    "ptr-v6": query("7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", 12),
    "dashed": query("10-244-0-41." + SVC, 1),
    "stable": query("web-demo-2." + SVC, 1),
    "nxdomain": query("nope." + SVC, 1),
    "ent": query("demo.svc.cluster.local", 1),
    "soa": query("cluster.local", 6, opt()),
    "ns": query("cluster.local", 2),
    "txt": query("dns-version.cluster.local", 16),
    "refused": query("example.com", 1),
    "any": query(POD, 255),
    "axfr": query("cluster.local", 252),
    "ixfr": query("cluster.local", 251),
    "type0": query(POD, 0),
    "notify": query("cluster.local", 6, opcode=4),
    "update": query("cluster.local", 6, opcode=5),
    "opcode15": query(POD, 1, opcode=15),
    "qdcount0-cookie": query("", 1, opt(options=option(10, COOKIE)), qdcount=0),
    "cookie-client": query(POD, 1, opt(options=option(10, COOKIE))),
    "cookie-both": query(POD, 1, opt(options=option(10, COOKIE + bytes(16)))),
    "cookie-bad-len": query(POD, 1, opt(options=option(10, COOKIE[:5]))),
    "nsid": query(POD, 1, opt(options=option(3, b""))),
    "nsid-cookie-ecs": query(
        POD, 1, opt(options=option(3, b"") + option(10, COOKIE) + option(8, bytes([0, 1, 24, 0, 10, 244, 0])))
    ),
    "badvers": query(POD, 1, opt(version=1)),
    "compressed": struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + bytes([0xC0, 12]) + struct.pack(">HH", 1, 1),
}
# CHAOS class: the same question with class 3.
SEEDS["chaos"] = query(POD, 16)[:-2] + struct.pack(">H", 3)
# Two OPT records: ARCOUNT 2.
two = bytearray(query(POD, 1, opt() + opt()))
two[10:12] = struct.pack(">H", 2)
SEEDS["two-opt"] = bytes(two)


def main():
    os.makedirs(HERE, exist_ok=True)
    rng = random.Random(6)
    for label, packet in SEEDS.items():
        for flags, suffix in [(0x10, "udp"), (0x02 | 0x14, "tcp-nsid")]:
            with open(os.path.join(HERE, f"{label}-{suffix}"), "wb") as f:
                f.write(bytes([flags]) + struct.pack(">H", 0) + packet)
    # Arbitrary zones: random model bytes before a plain query.
    for i in range(8):
        model = bytes(rng.randrange(256) for _ in range(rng.randrange(16, 200)))
        packet = query(["web-0.web.ns.svc.example", "db.default.svc.cluster.local", "a.svc.ns.svc.example"][i % 3], 1, opt())
        with open(os.path.join(HERE, f"model-{i}"), "wb") as f:
            f.write(bytes([0x11]) + struct.pack(">H", len(model)) + model + packet)


if __name__ == "__main__":
    main()
