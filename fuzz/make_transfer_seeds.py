#!/usr/bin/env python3
"""Writes the starting corpus of the `transfer` fuzz target to
corpus-seeds/transfer/.

Each seed is `flags(1) flip(2) packet` (see fuzz_targets/transfer.rs):
AXFR, IXFR (with the client's SOA), SOA queries, for each source; unsigned,
signed by the target (flag bit 2), signed then damaged (bit 3), and packets
that already carry a TSIG record of an unknown key or with a short MAC.
Run it from anywhere; it only writes files.
"""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus-seeds", "transfer")


def name(text):
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def message(qname, qtype, authority=b"", additional=b"", nscount=0, arcount=0, qid=0x5A5A):
    header = struct.pack(">HHHHHH", qid, 0, 1, 0, nscount, arcount)
    return header + name(qname) + struct.pack(">HH", qtype, 1) + authority + additional


def soa(owner, serial):
    rdata = name("ns.example") + name("hostmaster.example") + struct.pack(">IIIII", serial, 0, 0, 0, 0)
    return name(owner) + struct.pack(">HHIH", 6, 1, 0, len(rdata)) + rdata


def tsig(key, mac, algorithm="hmac-sha256", time=1_700_000_000, error=0, other=b""):
    rdata = (
        name(algorithm)
        + struct.pack(">HIH", time >> 32, time & 0xFFFFFFFF, 300)
        + struct.pack(">H", len(mac))
        + mac
        + struct.pack(">HHH", 0x5A5A, error, len(other))
        + other
    )
    return name(key) + struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata


PACKETS = {
    "axfr": message("cluster.local", 252),
    "axfr-reverse": message("in-addr.arpa", 252),
    "axfr-not-apex": message("svc.cluster.local", 252),
    "ixfr-old": message("cluster.local", 251, soa("cluster.local", 1), nscount=1),
    "ixfr-future": message("cluster.local", 251, soa("cluster.local", 0xFFFFFFF0), nscount=1),
    "ixfr-no-soa": message("cluster.local", 251),
    "soa": message("cluster.local", 6),
    "tsig-unknown-key": message("cluster.local", 252, additional=tsig("nope", bytes(32)), arcount=1),
    "tsig-short-mac": message("cluster.local", 252, additional=tsig("xfr.cluster.local", bytes(8)), arcount=1),
    "tsig-half-mac": message("cluster.local", 252, additional=tsig("xfr.cluster.local", bytes(16)), arcount=1),
    "tsig-sha512": message(
        "cluster.local", 6, additional=tsig("xfr.cluster.local", bytes(64), "hmac-sha512"), arcount=1
    ),
}


def main():
    os.makedirs(HERE, exist_ok=True)
    for label, packet in PACKETS.items():
        for source in range(3):
            for sign, suffix in [(0, "plain"), (0x04, "signed"), (0x0C, "signed-flipped")]:
                flags = source | sign
                flip = 2 if label.startswith("axfr") else len(packet) - 3
                with open(os.path.join(HERE, f"{label}-{suffix}-src{source}"), "wb") as f:
                    f.write(bytes([flags]) + struct.pack(">H", flip) + packet)


if __name__ == "__main__":
    main()
