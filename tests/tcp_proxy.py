"""A TCP proxy on 127.0.0.1 for faults a real server will not make on demand: a connection
that goes silent without closing (a NAT that forgot it, a peer that vanished), and a server
whose lines are rewritten (e.g. one that does not offer IDLE)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

LineRewrite = Callable[[bytes], bytes]


class TcpProxy:
    """Forwards each connection to ``target``; ``freeze`` stops forwarding while keeping the
    connections open, ``thaw`` resumes; ``rewrite`` is applied to each line from the server."""

    def __init__(self, target_port: int, rewrite: LineRewrite | None = None) -> None:
        self.target_port = target_port
        self.rewrite = rewrite
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name="proxy accept").start()

    def freeze(self) -> None:
        """Forward nothing more, in either direction; nothing is closed."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Forward again."""
        self._flowing.set()

    def connections(self) -> int:
        """How many client connections were accepted so far."""
        with self._lock:
            return len(self._sockets) // 2

    def close(self) -> None:
        """Close the listener and every connection."""
        self._closed = True
        self._flowing.set()
        with self._lock:
            for sock in [self._listener, *self._sockets]:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            threading.Thread(
                target=self._pump, args=(server, client, self.rewrite), daemon=True
            ).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, rewrite: LineRewrite | None
    ) -> None:
        pending = b""
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self._flowing.wait()
                if self._closed:
                    return
                if rewrite is None:
                    sink.sendall(data)
                    continue
                pending += data
                *lines, pending = pending.split(b"\r\n")
                sink.sendall(b"".join(rewrite(line) + b"\r\n" for line in lines))
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
