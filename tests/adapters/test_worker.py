"""The IMAP connection's worker thread: calls in order, errors handed back, never in the way
of the process exiting, and gone with its mailbox."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading

import pytest

from inbox_agent.adapters.worker import WorkerThread


def test_calls_run_in_order_on_one_thread() -> None:
    """Each call runs after the one before it, all on the same (daemon) thread."""
    worker = WorkerThread("test")
    seen: list[tuple[int, str]] = []

    def note(n: int) -> None:
        seen.append((n, threading.current_thread().name))

    futures = [worker.submit(note, n) for n in range(5)]
    for future in futures:
        future.result(timeout=30)
    worker.shutdown()
    assert [n for n, _ in seen] == [0, 1, 2, 3, 4]
    assert {name for _, name in seen} == {"test"}


def test_an_error_reaches_the_caller_through_asyncio() -> None:
    """What the call raises is raised where run_in_executor is awaited, as with a pool."""
    worker = WorkerThread("test")

    def fails() -> None:
        raise ValueError("the server said no")

    async def call() -> None:
        await asyncio.get_running_loop().run_in_executor(worker, fails)

    with pytest.raises(ValueError, match="the server said no"):
        asyncio.run(call())
    worker.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        worker.submit(print)


def test_a_dropped_worker_ends_its_thread() -> None:
    """A mailbox whose connection failed is never closed: its thread must not stay behind,
    one per failed poll."""
    worker = WorkerThread("dropped")
    worker.submit(lambda: None).result(timeout=30)
    thread = worker._thread
    del worker
    gc.collect()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_call_that_never_returns_does_not_hold_the_exit() -> None:
    """A read blocked on a server that does not answer: the process still exits at once
    when it is done (a ThreadPoolExecutor's thread is joined at exit, and would wait)."""
    code = (
        "import threading\nfrom inbox_agent.adapters.worker import WorkerThread\n"
        "worker = WorkerThread('stuck')\nworker.submit(threading.Event().wait)\n"
        "print('done')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
