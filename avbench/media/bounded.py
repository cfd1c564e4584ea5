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


def _worker(conn: Connection, func: Callable[..., Any], mem_mb: int) -> None:
    if mem_mb > 0:
        limit = mem_mb * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        except (ValueError, OSError):  # pragma: no cover - platform without RLIMIT_DATA
            pass
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        index, args = msg
        try:
            conn.send((index, "ok", func(*args), ""))
        except MemoryError:
            conn.send((index, "out_of_memory", None, "MemoryError"))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded reason
            line = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            conn.send((index, "error", None, line or traceback.format_exc(limit=1)))


class _Slot:
    def __init__(self, ctx: Any, func: Callable[..., Any], mem_mb: int) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, func, mem_mb), daemon=True)
        self.proc.start()
        child.close()
        self.task: int | None = None
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
) -> Iterator[Outcome]:
    """Call ``func(*args)`` for each ``args`` in ``items`` in ``workers`` processes.

    Yields :class:`Outcome` objects in completion order (use ``index`` to match them up). ``func``
    must be importable (a module-level function). A call running longer than ``timeout_s`` or
    exceeding ``mem_mb`` of data memory has its worker killed and replaced.
    """
    ctx = mp.get_context(start_method)
    queue = list(enumerate(items))
    queue.reverse()
    slots = [_Slot(ctx, func, mem_mb) for _ in range(max(1, min(workers, len(queue))))] if queue else []
    try:
        while True:
            for i, slot in enumerate(slots):
                if slot.task is None and queue:
                    index, args = queue.pop()
                    slot.task, slot.started = index, time.monotonic()
                    slot.conn.send((index, args))
            busy = [s for s in slots if s.task is not None]
            if not busy:
                return
            ready = wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout=0.5)
            now = time.monotonic()
            for i, slot in enumerate(slots):
                if slot.task is None:
                    continue
                if slot.conn in ready:
                    try:
                        index, status, value, detail = slot.conn.recv()
                    except (EOFError, OSError):
                        pass
                    else:
                        slot.task = None
                        yield Outcome(index, status, value, detail)
                        continue
                if not slot.proc.is_alive():
                    code = slot.proc.exitcode
                    reason = "out_of_memory" if code in (-9,) else "crashed"
                    yield Outcome(slot.task, reason, None, f"worker exited with code {code}")
                    slot.kill()
                    slots[i] = _Slot(ctx, func, mem_mb)
                elif now - slot.started > timeout_s:
                    yield Outcome(slot.task, "timeout", None, f"no result after {timeout_s:.0f} s")
                    slot.kill()
                    slots[i] = _Slot(ctx, func, mem_mb)
    finally:
        for slot in slots:
            try:
                slot.conn.send(None)
            except OSError:
                pass
            slot.proc.join(2)
            if slot.proc.is_alive():
                slot.kill()
