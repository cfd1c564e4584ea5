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


def slow_start() -> None:
    time.sleep(4)  # heavy imports in a worker on a loaded machine


def near_bound_then_invalid(mb: int) -> str:
    """Fill the data memory to 95% of the bound, free it, then fail the way FFmpeg does when an
    allocation fails inside a decoder ("Invalid data")."""
    from avbench.media.bounded import _vm_data_kb

    blocks = []
    try:
        while _vm_data_kb() / 1024 < 0.95 * mb:
            blocks.append(bytearray(8 * 1024 * 1024))
    except MemoryError:
        pass
    time.sleep(0.05)
    del blocks
    raise ValueError("Invalid data found when processing input")


def test_worker_start_up_does_not_count_against_the_timeout():
    """Issue 12, defect 10: with timeout_s 3 and 2 workers, valid clips were recorded as timeout."""
    out = {
        o.index: o
        for o in run_bounded(work, [("a",), ("b",), ("c",)], workers=2, timeout_s=2, mem_mb=512, init=slow_start)
    }
    assert [out[i].status for i in range(3)] == ["ok", "ok", "ok"]


def test_failure_at_the_memory_bound_is_out_of_memory():
    """Issue 12, defect 9: FFmpeg running out of memory was reported as a decode error."""
    out = {o.index: o for o in run_bounded(near_bound_then_invalid, [(512,)], workers=1, timeout_s=60, mem_mb=512)}
    assert out[0].status == "out_of_memory" and "memory bound of 512 MB" in out[0].detail
    genuine = list(run_bounded(work, [("raise",)], workers=1, timeout_s=60, mem_mb=512))
    assert genuine[0].status == "error"
