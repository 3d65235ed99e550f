#!/usr/bin/env python3
"""Writes the starting corpus of the `tcp` fuzz target to corpus-seeds/tcp/.

Each seed is `flags(1) piece(1) stream` (see fuzz_targets/tcp.rs): single
and pipelined queries, AXFR and IXFR, a half-sent message, a zero-length
frame, read whole, a byte at a time, and in slow pieces.
Run it from anywhere; it only writes files.
"""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus-seeds", "tcp")


def name(text):
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qname, qtype, qid=0x4242, authority=b"", nscount=0):
    return struct.pack(">HHHHHH", qid, 0, 1, 0, nscount, 0) + name(qname) + struct.pack(">HH", qtype, 1) + authority


def frame(message):
    return struct.pack(">H", len(message)) + message


def soa(owner, serial):
    rdata = name("ns.example") + name("hostmaster.example") + struct.pack(">IIIII", serial, 0, 0, 0, 0)
    return name(owner) + struct.pack(">HHIH", 6, 1, 0, len(rdata)) + rdata


POD = "web-1.web.demo.svc.cluster.local"
STREAMS = {
    "a": frame(query(POD, 1)),
    "soa": frame(query("cluster.local", 6)),
    "pipelined": frame(query(POD, 1, 1)) + frame(query(POD, 28, 2)) + frame(query("cluster.local", 2, 3)),
    "axfr": frame(query("cluster.local", 252)),
    "axfr-then-a": frame(query("cluster.local", 252, 7)) + frame(query(POD, 1, 8)),
    "ixfr": frame(query("cluster.local", 251, authority=soa("cluster.local", 1), nscount=1)),
    "half": frame(query(POD, 1))[:9],
    "half-prefix": b"\x00",
    "zero-length": b"\x00\x00" + frame(query(POD, 1)),
    "short-message": frame(b"\x12\x34\x00"),
}


def main():
    os.makedirs(HERE, exist_ok=True)
    for label, stream in STREAMS.items():
        for flags, piece, suffix in [(0, 0, "whole"), (0, 1, "bytewise"), (1, 5, "slow")]:
            with open(os.path.join(HERE, f"{label}-{suffix}"), "wb") as f:
                f.write(bytes([flags, piece]) + stream)


if __name__ == "__main__":
    main()
