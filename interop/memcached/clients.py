#!/usr/bin/python3
"""Round-trip checks with real Python memcached clients, binary and text.

    clients.py HOST PORT

Uses Debian's python3-pylibmc (libmemcached, binary=True and then
binary=False: the text protocol), python3-binary-memcached (bmemcached, pure
Python, binary) and python3-pymemcache (pure Python, text only). Each check prints
"ok NAME" or "FAIL NAME: why"; the last line is "clients: N passed, M failed"
and the exit status is 1 when anything failed or a client is missing.
"""
import sys

from checks import check, expect, fail, finish

host, port = sys.argv[1], int(sys.argv[2])
addr = f"{host}:{port}"


def pylibmc_checks():
    import pylibmc

    c = pylibmc.Client([addr], binary=True, behaviors={"cas": True})
    c.flush_all()
    check("pylibmc set/get", lambda: (expect(c.set("k", "v"), True), expect(c.get("k"), "v")))
    check("pylibmc bytes value", lambda: (c.set("b", b"\x00\xff\r\n"), expect(c.get("b"), b"\x00\xff\r\n")))
    check("pylibmc delete", lambda: (expect(c.delete("k"), True), expect(c.get("k"), None)))
    check("pylibmc add twice", lambda: (expect(c.add("a", "1"), True), expect(c.add("a", "2"), False)))

    def incr():
        c.set("n", "10")
        expect(c.incr("n", 5), 15)
        expect(c.decr("n", 20), 0)

    check("pylibmc incr/decr", incr)

    def cas():
        c.set("c", "one")
        value, token = c.gets("c")
        expect(value, "one")
        expect(c.cas("c", "two", token), True)
        expect(c.cas("c", "three", token), False)
        expect(c.get("c"), "two")

    check("pylibmc gets/cas", cas)

    def multi():
        data = {f"m{i}": f"value-{i}" for i in range(200)}
        expect(c.set_multi(data), [])
        got = c.get_multi(list(data) + ["absent"])
        expect(got, data)
        c.delete_multi(list(data)[:100])
        expect(len(c.get_multi(list(data))), 100)

    check("pylibmc multi set/get/delete", multi)
    check("pylibmc pickled object", lambda: (c.set("o", {"x": [1, 2]}), expect(c.get("o"), {"x": [1, 2]})))
    check("pylibmc append/prepend", lambda: (c.set("s", "mid"), c.append("s", ">"), c.prepend("s", "<"), expect(c.get("s"), "<mid>")))


def bmemcached_checks():
    import bmemcached

    c = bmemcached.Client([addr])
    c.flush_all()
    check("bmemcached set/get", lambda: (expect(c.set("k", "v"), True), expect(c.get("k"), "v")))
    check("bmemcached delete", lambda: (expect(c.delete("k"), True), expect(c.get("k"), None)))
    check("bmemcached add/replace", lambda: (expect(c.add("a", "1"), True), expect(c.add("a", "2"), False), expect(c.replace("a", "3"), True), expect(c.get("a"), "3")))

    def incr():
        c.set("n", 10)
        expect(c.incr("n", 5), 15)
        expect(c.decr("n", 20), 0)

    check("bmemcached incr/decr", incr)

    def cas():
        c.set("c", "one")
        value, token = c.gets("c")
        expect(value, "one")
        expect(c.cas("c", "two", token), True)
        expect(c.cas("c", "three", token), False)
        expect(c.get("c"), "two")

    check("bmemcached gets/cas", cas)

    def multi():
        data = {f"m{i}": f"value-{i}" for i in range(200)}
        c.set_multi(data)
        expect(c.get_multi(list(data) + ["absent"]), data)

    check("bmemcached multi set/get", multi)
    check("bmemcached large value", lambda: (c.set("big", "x" * 500_000), expect(len(c.get("big")), 500_000)))


def pylibmc_text_checks():
    import pylibmc

    c = pylibmc.Client([addr], binary=False, behaviors={"cas": True})
    c.flush_all()
    check("pylibmc text set/get", lambda: (expect(c.set("k", "v"), True), expect(c.get("k"), "v")))
    check("pylibmc text bytes value", lambda: (c.set("b", b"\x00\xff\r\nEND\r\n"), expect(c.get("b"), b"\x00\xff\r\nEND\r\n")))

    def incr():
        c.set("n", "10")
        expect(c.incr("n", 5), 15)
        expect(c.decr("n", 20), 0)

    check("pylibmc text incr/decr", incr)

    def cas():
        c.set("c", "one")
        value, token = c.gets("c")
        expect(value, "one")
        expect(c.cas("c", "two", token), True)
        expect(c.cas("c", "three", token), False)
        expect(c.get("c"), "two")

    check("pylibmc text gets/cas", cas)

    def multi():
        data = {f"m{i}": f"value-{i}" for i in range(200)}
        expect(c.set_multi(data), [])
        expect(c.get_multi(list(data) + ["absent"]), data)

    check("pylibmc text multi set/get", multi)

    def noreply():
        n = pylibmc.Client([addr], binary=False, behaviors={"_noreply": True})
        for i in range(100):
            n.set(f"nr{i}", f"v{i}")
        # Same connection: the gets follow the unanswered sets in order.
        expect(n.get_multi([f"nr{i}" for i in range(100)]), {f"nr{i}": f"v{i}" for i in range(100)})

    check("pylibmc text noreply sets", noreply)


def pymemcache_checks():
    from pymemcache.client.base import Client

    c = Client((host, port), default_noreply=False)
    c.flush_all()
    check("pymemcache set/get", lambda: (expect(c.set("k", b"v"), True), expect(c.get("k"), b"v")))
    check("pymemcache add/replace/append/prepend", lambda: (
        expect(c.add("k", b"x"), False), expect(c.replace("k", b"mid"), True),
        expect(c.append("k", b">"), True), expect(c.prepend("k", b"<"), True), expect(c.get("k"), b"<mid>")))
    check("pymemcache delete", lambda: (expect(c.delete("k"), True), expect(c.delete("k"), False), expect(c.get("k"), None)))

    def incr():
        c.set("n", b"10")
        expect(c.incr("n", 5), 15)
        expect(c.decr("n", 20), 0)
        expect(c.incr("missing", 1), None)
        c.set("s", b"abc")
        try:
            c.incr("s", 1)
        except Exception as e:  # pymemcache raises MemcacheClientError with memcached's text
            expect("non-numeric" in str(e), True)
        else:
            raise AssertionError("incr of a non-number succeeded")

    check("pymemcache incr/decr", incr)

    def cas():
        c.set("c", b"one")
        value, token = c.gets("c")
        expect(value, b"one")
        expect(c.cas("c", b"two", token), True)
        expect(c.cas("c", b"three", token), False)
        expect(c.cas("absent", b"x", b"1"), None)
        expect(c.get("c"), b"two")

    check("pymemcache gets/cas", cas)

    def multi():
        data = {f"m{i}": f"value-{i}".encode() for i in range(200)}
        expect(c.set_many(data), [])
        expect(c.get_many(list(data) + ["absent"]), data)
        expect(c.delete_many(list(data)[:100]), True)
        expect(len(c.get_many(list(data))), 100)

    check("pymemcache multi set/get/delete", multi)

    def noreply():
        for i in range(500):
            c.set(f"nr{i}", f"v{i}".encode(), noreply=True)
        expect(c.get_many([f"nr{i}" for i in range(500)]), {f"nr{i}": f"v{i}".encode() for i in range(500)})

    check("pymemcache noreply sets", noreply)
    check("pymemcache touch", lambda: (
        expect(c.touch("c", 100), True), expect(c.touch("absent", 100), False), expect(c.get("c"), b"two")))
    check("pymemcache large value", lambda: (c.set("big", b"x" * 1_000_000), expect(len(c.get("big")), 1_000_000)))
    check("pymemcache stats/version", lambda: (
        expect(b"curr_items" in c.stats(), True), expect(c.version().count(b"."), 2)))


for name, fn in (("pylibmc", pylibmc_checks), ("bmemcached", bmemcached_checks),
                 ("pylibmc text", pylibmc_text_checks), ("pymemcache", pymemcache_checks)):
    try:
        fn()
    except ImportError as e:
        fail(f"FAIL {name}: client missing ({e}); run interop/memcached/install-deps.sh")

finish("clients")
