#!/usr/bin/python3
"""TLS checks with a real client (pymemcache over Python's ssl module).

    tls_client.py HOST PORT CAFILE

Connects with certificate verification against CAFILE (the certificate
must name HOST, e.g. an IP subjectAltName for 127.0.0.1), then: pymemcache set/get/delete/incr/cas over TLS;
`stats settings` says ssl_enabled yes; `refresh_certs` answers OK and a new
connection still verifies; a plain-text client on the TLS port gets no
plain-text reply. Runs against memcached -Z and mammoth serve --tls-cert
alike. Each check prints "ok NAME" or "FAIL NAME: why"; the last line is
"tls: N passed, M failed" and the exit status is 1 when anything failed.
"""
import socket
import ssl
import sys

from checks import check, expect, fail, finish

host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def context():
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    return ctx


def raw(lines, until=b"END\r\n"):
    """Sends lines over a fresh verified TLS socket; returns the reply."""
    with socket.create_connection((host, port), timeout=10) as tcp:
        with context().wrap_socket(tcp, server_hostname=host) as s:
            s.sendall(lines)
            data = b""
            while not data.endswith(until):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data


def pymemcache_checks():
    from pymemcache.client.base import Client

    c = Client((host, port), tls_context=context(), timeout=10)
    check("pymemcache set/get", lambda: (expect(c.set("k", b"v", noreply=False), True), expect(c.get("k"), b"v")))
    check("pymemcache delete", lambda: (expect(c.delete("k", noreply=False), True), expect(c.get("k"), None)))

    def incr():
        c.set("n", b"10", noreply=False)
        expect(c.incr("n", 5), 15)

    check("pymemcache incr", incr)

    def cas():
        c.set("c", b"one", noreply=False)
        value, token = c.gets("c")
        expect(value, b"one")
        expect(c.cas("c", b"two", token, noreply=False), True)
        expect(c.cas("c", b"three", token, noreply=False), False)

    check("pymemcache gets/cas", cas)
    big = bytes(range(256)) * 2048
    check("pymemcache 512 KiB value", lambda: (c.set("big", big, noreply=False), expect(c.get("big"), big)))
    c.close()


def settings():
    text = raw(b"stats settings\r\n").decode()
    if "STAT ssl_enabled yes\r\n" not in text:
        raise AssertionError(f"no ssl_enabled yes in {text!r}")


def refresh():
    expect(raw(b"refresh_certs\r\n", until=b"\r\n"), b"OK\r\n")
    expect(raw(b"get nothing\r\n"), b"END\r\n")


def plain_refused():
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"get k\r\n")
        try:
            data = s.recv(100)
        except (ConnectionResetError, socket.timeout):
            data = b""
        if data.startswith(b"END") or data.startswith(b"VALUE"):
            raise AssertionError(f"plain-text reply {data!r}")


try:
    pymemcache_checks()
except ImportError as e:
    fail(f"FAIL pymemcache: {e!r} (install python3-pymemcache)")
check("stats settings over TLS", settings)
check("refresh_certs", refresh)
check("plain client refused", plain_refused)
finish("tls")
