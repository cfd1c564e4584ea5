import time

from avbench.media.bounded import run_bounded


def work(kind: str) -> str:
    if kind == "sleep":
        time.sleep(300)
    if kind == "alloc":
        blocks = [bytearray(64 * 1024 * 1024) for _ in range(64)]  # 4 GiB
        return str(len(blocks))
    if kind == "raise":
        raise ValueError("bad input\nsecond line")
    if kind == "exit":
        import os

        os._exit(3)
    return kind.upper()


def test_each_failure_gets_a_reason_and_the_rest_completes():
    items = [("a",), ("sleep",), ("alloc",), ("raise",), ("exit",), ("b",)]
    t0 = time.time()
    # The time bound is generous (a spawned worker may take seconds to start on a loaded machine);
    # what matters is that the 300 s sleeper is cut off instead of stalling the run.
    out = {o.index: o for o in run_bounded(work, items, workers=2, timeout_s=15, mem_mb=512)}
    assert time.time() - t0 < 200
    assert out[0].status == "ok" and out[0].value == "A"
    assert out[5].status == "ok" and out[5].value == "B"
    assert out[1].status == "timeout"
    assert out[2].status == "out_of_memory"
    assert out[3].status == "error" and out[3].detail == "ValueError: bad input"
    assert out[4].status == "crashed"


def test_empty_input_yields_nothing():
    assert list(run_bounded(work, [], workers=2)) == []
