"""Run a function over many files in worker processes, each call bounded in time and memory.

One bad file (a decoder that loops, a file that makes the demuxer allocate gigabytes, a segfault in
a codec) must never stall or kill the whole run: the worker that handles it is killed and replaced,
and the item gets a reason code (``timeout``, ``out_of_memory``, ``crashed``) instead of a result.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """The result of one bounded call: ``value`` when ``status == "ok"``, else a reason code."""

    index: int
    status: str
    value: Any = None
    detail: str = ""


def _vm_data_kb() -> int:
    """This process's data memory (``VmData``, what ``RLIMIT_DATA`` bounds) in kB; 0 where unknown."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmData:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class _MemoryWatch:
    """Samples this process's data memory every few milliseconds while a call runs, to tell a
    failure caused by the memory bound (FFmpeg reports a failed allocation as "Invalid data" as
    often as ENOMEM) from a genuine one."""

    def __init__(self) -> None:
        import threading

        self.peak_kb = 0
        self.active = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            self.active.wait()
            self.peak_kb = max(self.peak_kb, _vm_data_kb())
            time.sleep(0.005)

    def start(self) -> None:
        self.peak_kb = _vm_data_kb()
        self.active.set()

    def stop(self) -> int:
        self.active.clear()
        self.peak_kb = max(self.peak_kb, _vm_data_kb())
        return self.peak_kb


#: a call that fails after its process's data memory came this close to the bound is out of memory
MEMORY_BOUND_FRACTION = 0.9
_NOMEM_WORDS = ("cannot allocate memory", "out of memory", "memoryerror", "std::bad_alloc")


def _worker(conn: Connection, func: Callable[..., Any], mem_mb: int, init: Callable[[], Any] | None = None) -> None:
    if mem_mb > 0:
        limit = mem_mb * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        except (ValueError, OSError):  # pragma: no cover - platform without RLIMIT_DATA
            pass
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if init is not None:
        try:
            init()
        except Exception:  # noqa: BLE001 - the calls themselves will fail with a recorded reason
            pass
    watch = _MemoryWatch() if mem_mb > 0 else None
    conn.send(_READY)  # start-up (imports, init) is over: the parent starts the clock per call now
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        index, args = msg
        if watch is not None:
            watch.start()
        try:
            value = func(*args)
        except MemoryError:
            conn.send((index, "out_of_memory", None, f"MemoryError (bound {mem_mb} MB)"))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded reason
            line = f"{type(exc).__name__}: {exc}".splitlines()[0][:300] or traceback.format_exc(limit=1)
            peak_mb = (watch.stop() if watch is not None else 0) / 1024
            if mem_mb > 0 and (
                peak_mb >= MEMORY_BOUND_FRACTION * mem_mb or any(w in line.lower() for w in _NOMEM_WORDS)
            ):
                conn.send(
                    (
                        index,
                        "out_of_memory",
                        None,
                        f"memory bound of {mem_mb} MB reached (peak {peak_mb:.0f} MB): {line}"[:300],
                    )
                )
            else:
                conn.send((index, "error", None, line))
        else:
            conn.send((index, "ok", value, ""))
        finally:
            if watch is not None:
                watch.active.clear()


_READY = "__ready__"
#: seconds a new worker may take to start (imports, ``init``) before the run gives up on it
STARTUP_TIMEOUT_S = 300.0


class _Slot:
    def __init__(self, ctx: Any, func: Callable[..., Any], mem_mb: int, init: Callable[[], Any] | None) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, func, mem_mb, init), daemon=True)
        self.proc.start()
        child.close()
        self.task: int | None = None
        self.ready = False
        self.created = time.monotonic()
        self.started = 0.0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def run_bounded(
    func: Callable[..., Any],
    items: Iterable[tuple[Any, ...]],
    *,
    workers: int = 1,
    timeout_s: float = 120.0,
    mem_mb: int = 4096,
    start_method: str = "spawn",
    init: Callable[[], Any] | None = None,
) -> Iterator[Outcome]:
    """Call ``func(*args)`` for each ``args`` in ``items`` in ``workers`` processes.

    Yields :class:`Outcome` objects in completion order (use ``index`` to match them up). ``func``
    (and ``init``, run once per worker before its first call, e.g. heavy imports) must be
    importable (module-level functions). The clock of a call starts when the worker, started and
    initialised, receives it: start-up never counts against ``timeout_s``. A call running longer
    than ``timeout_s`` or exceeding ``mem_mb`` of data memory has its worker killed and replaced; a
    call that fails after its worker's memory came within 10% of ``mem_mb`` is ``out_of_memory``.
    """
    ctx = mp.get_context(start_method)
    queue = list(enumerate(items))
    queue.reverse()
    slots = [_Slot(ctx, func, mem_mb, init) for _ in range(max(1, min(workers, len(queue))))] if queue else []
    failed_starts = 0
    try:
        while True:
            for slot in slots:
                if slot.ready and slot.task is None and queue:
                    index, args = queue.pop()
                    slot.task, slot.started = index, time.monotonic()
                    slot.conn.send((index, args))
            live = [s for s in slots if s.task is not None or not s.ready]
            if not any(s.task is not None for s in slots) and not queue:
                return
            ready = wait([s.conn for s in live] + [s.proc.sentinel for s in live], timeout=0.5)
            now = time.monotonic()
            for i, slot in enumerate(slots):
                if slot.conn in ready:
                    try:
                        msg = slot.conn.recv()
                    except (EOFError, OSError):
                        pass
                    else:
                        if msg == _READY:
                            slot.ready = True
                            failed_starts = 0
                            continue
                        index, status, value, detail = msg
                        slot.task = None
                        yield Outcome(index, status, value, detail)
                        continue
                if not slot.ready:
                    if not slot.proc.is_alive() or now - slot.created > STARTUP_TIMEOUT_S:
                        failed_starts += 1
                        code = slot.proc.exitcode
                        slot.kill()
                        if failed_starts > 3:
                            raise RuntimeError(f"bounded worker processes do not start (exit code {code})")
                        slots[i] = _Slot(ctx, func, mem_mb, init)
                    continue
                if slot.task is None:
                    continue
                if not slot.proc.is_alive():
                    code = slot.proc.exitcode
                    reason = "out_of_memory" if code in (-9,) else "crashed"
                    yield Outcome(slot.task, reason, None, f"worker exited with code {code}")
                    slot.kill()
                    slots[i] = _Slot(ctx, func, mem_mb, init)
                elif now - slot.started > timeout_s:
                    yield Outcome(slot.task, "timeout", None, f"no result after {timeout_s:.0f} s")
                    slot.kill()
                    slots[i] = _Slot(ctx, func, mem_mb, init)
    finally:
        for slot in slots:
            try:
                slot.conn.send(None)
            except OSError:
                pass
            slot.proc.join(2)
            if slot.proc.is_alive():
                slot.kill()
