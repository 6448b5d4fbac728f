#!/usr/bin/env python3
"""Replication lag between two memcached-protocol servers (stdlib only).

Usage: lagprobe.py SOURCE_HOST:PORT TARGET_HOST:PORT [-t SECONDS] [-i INTERVAL]

Every INTERVAL seconds (default 0.05) it SETs a fresh probe key on the
source (binary SET: on mammoth the reply means the write is durable) and
then polls the target with GET every millisecond until the key is there.
The lag of one probe is the time from the source's reply to the first
successful GET on the target. Prints count, p50, p99 and max in ms, and
exits 1 if a probe never arrived within 30 s.
"""
import argparse
import socket
import struct
import sys
import time

HDR = struct.Struct(">BBHBBHIIQ")
GET, SET = 0x00, 0x01


def connect(hostport):
    host, port = hostport.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def call(s, op, key, val=b"", extras=b""):
    body = extras + key + val
    s.sendall(HDR.pack(0x80, op, len(key), len(extras), 0, 0, len(body), 0, 0) + body)
    head = b""
    while len(head) < 24:
        d = s.recv(24 - len(head))
        if not d:
            raise EOFError("server closed the connection")
        head += d
    _, _, _, _, _, status, blen, _, _ = HDR.unpack(head)
    rest = b""
    while len(rest) < blen:
        d = s.recv(blen - len(rest))
        if not d:
            raise EOFError("server closed the connection")
        rest += d
    return status


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("-t", "--seconds", type=float, default=10)
    ap.add_argument("-i", "--interval", type=float, default=0.05)
    args = ap.parse_args()
    src, dst = connect(args.source), connect(args.target)
    lags = []
    end = time.time() + args.seconds
    n = 0
    run = "%x" % int(time.time() * 1000)
    while time.time() < end:
        key = b"lagprobe:%s:%d" % (run.encode(), n)
        n += 1
        if call(src, SET, key, b"x", struct.pack(">II", 0, 0)) != 0:
            sys.exit("lagprobe: SET on the source failed")
        acked = time.time()
        while call(dst, GET, key) != 0:
            if time.time() - acked > 30:
                sys.exit("lagprobe: probe %d never reached the target" % n)
            time.sleep(0.001)
        lags.append(time.time() - acked)
        time.sleep(max(0.0, args.interval - (time.time() - acked)))
    lags.sort()
    pct = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))] * 1000
    print("lagprobe: %d probes, lag p50 %.1f ms, p99 %.1f ms, max %.1f ms"
          % (len(lags), pct(0.50), pct(0.99), lags[-1] * 1000))


if __name__ == "__main__":
    main()
