#!/usr/bin/python3
"""Writes keys through nutcracker with real Python clients, reads them back.

    clients.py HOST PORT COUNT

Half of COUNT keys go through pylibmc (libmemcached, text protocol: the
proxy refuses binary), half through pymemcache (pure Python, text). Key
`pylibmc:N` or `pymemcache:N` gets the value `v=` + key. Every key is then
read back through the proxy with the other client's multi-get. Prints the
keys, one per line, on stdout (the caller checks where each one landed);
exits 1 with a message on stderr when a write or a read-back fails.
"""
import sys

import pylibmc
from pymemcache.client.base import Client

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def batches(keys, size=200):
    for i in range(0, len(keys), size):
        yield keys[i : i + size]


def main():
    lib = pylibmc.Client([f"{host}:{port}"], binary=False)
    pure = Client((host, port), connect_timeout=5, timeout=30)
    half = count // 2
    by_lib = [f"pylibmc:{i}" for i in range(half)]
    by_pure = [f"pymemcache:{i}" for i in range(count - half)]
    for batch in batches(by_lib):
        failed = lib.set_multi({k: ("v=" + k).encode() for k in batch})
        if failed:
            sys.exit(f"pylibmc set_multi failed for {len(failed)} keys, e.g. {failed[0]}")
    for batch in batches(by_pure):
        failed = pure.set_many({k: ("v=" + k).encode() for k in batch}, noreply=False)
        if failed:
            sys.exit(f"pymemcache set_many failed for {len(failed)} keys, e.g. {failed[0]}")
    # Read back with the other client.
    for reader, keys in ((pure.get_many, by_lib), (lib.get_multi, by_pure)):
        for batch in batches(keys):
            got = reader(batch)
            for k in batch:
                v = got.get(k)
                if v != ("v=" + k).encode():
                    sys.exit(f"read back {k!r} through the proxy: {v!r}")
    for k in by_lib + by_pure:
        print(k)


if __name__ == "__main__":
    main()
