"""One daemon thread that runs calls in order: where a synchronous client (imapclient) lives.

A ``ThreadPoolExecutor``'s threads are joined when the interpreter exits, so a call blocked on
a server that does not answer (a read with a 30 s timeout, or longer) would keep a stopped
daemon alive until the timeout ends, and systemd waiting with it. This thread is a daemon
thread: when the agent has stopped, the process exits and the call is abandoned with its
socket. The agent layer never abandons a call it still needs: it only stops waiting for one
when it is shutting down (``daemon.Daemon``), and nothing a read-only IMAP call does needs to
finish to keep mail safe.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
_Work = tuple[Future[Any], Callable[[], Any]]


class WorkerThread(Executor):
    """An executor of one daemon thread; calls run one at a time, in the order submitted.

    The thread ends at ``shutdown``, or when the executor is dropped without one (a mailbox
    whose connection failed is not closed), as a ``ThreadPoolExecutor``'s threads do: it
    holds the queue, not the executor.
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._shut_down = False
        self._thread = threading.Thread(target=_run, args=(self._queue,), name=name, daemon=True)
        self._thread.start()
        weakref.finalize(self, self._queue.put, None)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn(*args, **kwargs)``; its result (or exception) arrives in the future."""
        if self._shut_down:
            raise RuntimeError("cannot submit to a worker thread that was shut down")
        future: Future[T] = Future()
        self._queue.put((future, lambda: fn(*args, **kwargs)))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more calls; the thread ends after the ones queued (``wait``: wait for that)."""
        self._shut_down = True
        self._queue.put(None)
        if wait:
            self._thread.join()


def _run(work_queue: queue.SimpleQueue[_Work | None]) -> None:
    while (work := work_queue.get()) is not None:
        _do(*work)
        del work  # nothing of the last call is kept while the thread waits for the next


def _do(future: Future[Any], call: Callable[[], Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return  # cancelled while it waited: never started
    try:
        future.set_result(call())
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
        future.set_exception(exc)
