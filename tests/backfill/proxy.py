"""A TCP -> unix-socket proxy in front of PostgreSQL whose connections a test can cut: a real
network fault (both ends see the connection end), for the moments a mock cannot reproduce,
such as a COMMIT in flight."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from psycopg.conninfo import conninfo_to_dict, make_conninfo


class Proxy:
    def __init__(self, unix_path: str) -> None:
        self.unix_path = unix_path
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.frozen = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @classmethod
    def in_front_of(cls, url: str) -> tuple[Proxy, str]:
        """A proxy for a server reached over its unix socket, and the TCP URL through it (the
        port may be in the URL's authority or in its query: read it the way libpq does)."""
        params = conninfo_to_dict(url)
        proxy = cls(f"{params['host']}/.s.PGSQL.{params.get('port') or 5432}")
        params.update(host="127.0.0.1", port=str(proxy.port))
        return proxy, make_conninfo(**{k: str(v) for k, v in params.items()})

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.connect(self.unix_path)
            except OSError:  # the server is gone: the client sees its connection refused
                client.close()
                server.close()
                continue
            with self.lock:
                self.pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.frozen:
                    time.sleep(0.05)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop accepting (ends the accept thread) and cut what is open."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        self._acceptor.join(5)
        self.cut_all()

    def cut_all(self) -> None:
        """The network drops every connection (both ends see it end)."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for c, s in pairs:
            for x in (c, s):
                with contextlib.suppress(OSError):
                    x.shutdown(socket.SHUT_RDWR)
                x.close()
