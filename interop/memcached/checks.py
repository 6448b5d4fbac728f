"""The pass/fail bookkeeping the client scripts share (clients.py,
tls_client.py): each check prints "ok   NAME" or "FAIL NAME: why", and
finish() prints "LABEL: N passed, M failed" and exits 1 when anything
failed."""
import sys

passed = failed = 0


def check(name, fn):
    """Runs fn; a raised exception is a failure, reported on one line."""
    global passed, failed
    try:
        fn()
        print(f"ok   {name}")
        passed += 1
    except Exception as e:  # report and go on: one line per failed check
        print(f"FAIL {name}: {e!r}")
        failed += 1


def fail(line):
    """Counts a failure found outside a check (a missing client)."""
    global failed
    print(line)
    failed += 1


def expect(got, want):
    if got != want:
        raise AssertionError(f"got {got!r}, want {want!r}")


def finish(label):
    print(f"{label}: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
