"""Run the server: blocking (``ampkit serve``) or in a background thread (tests, ``demo``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import duckdb
import uvicorn

from ampkit.server.app import ServerApp, create_app
from ampkit.server.config import FaultConfig, ProjectConfig, ServerConfig
from ampkit.server.store import Store


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only then
    # (without it every keep-alive answer waits ~40 ms for a delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """SIGINT/SIGTERM mean a graceful shutdown and exit status 0 (uvicorn would re-raise the
    signal after shutting down, so the process would look killed)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True

    async def main_loop(self) -> None:
        """uvicorn's loop of ticks (every 0.1 s: the Date header, the exit flag), woken at once
        by :meth:`stop_soon` — so stopping a server in a thread takes no tick's wait."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def stop_soon(self) -> None:
        """Ask for a graceful shutdown from another thread."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed already
                loop.call_soon_threadsafe(wake.set)


def _uvicorn(app: ServerApp, config: ServerConfig) -> _Server:
    return _Server(uvicorn.Config(
        app.asgi, log_level=config.log_level, access_log=False, lifespan="on",
        timeout_keep_alive=30,
        http="h11",  # passes an absolute-form target whole (httptools drops its host: proxy.py)
    ))


@dataclass
class RunningServer:
    """A server running in a thread of this process."""

    url: str
    port: int
    app: ServerApp
    _server: _Server
    _thread: threading.Thread

    @property
    def store(self) -> Store:
        return self.app.store

    def add_project(self, project: ProjectConfig) -> None:
        """Serve one more project from now on, with its own key pair and data (the operator's
        API, in this process only: no route adds a project).  ``ValueError`` names the field
        when its id, API key or secret key is already served."""
        self.app.store.add_project(project)

    def set_faults(self, faults: FaultConfig) -> None:
        """The operator's faults: every project's requests on their paths."""
        self.app.faults.update(faults)

    def set_project_faults(self, project_id: int, faults: FaultConfig) -> None:
        """One project's faults (what ``POST /_ampkit/faults`` with its key pair sets)."""
        self.app.faults.set_project(project_id, faults)

    def stop(self, timeout: float = 30) -> None:
        """Finish requests in flight, then close the store (nothing acknowledged is lost)."""
        self._server.stop_soon()
        self._thread.join(timeout)
        self.app.store.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve_in_thread(config: ServerConfig, startup_timeout: float = 30,
                    store: Store | None = None) -> RunningServer:
    """Start a server on ``config.host:config.port`` (``0`` = a free port) in a thread and
    return once it accepts requests.  ``store``: one already opened (on ``config``) to serve,
    instead of a new one."""
    sock = _listen(config.host, config.port)
    port = sock.getsockname()[1]
    app = create_app(store if store is not None else Store(config))
    server = _uvicorn(app, config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="ampkit-server", daemon=True)
    thread.start()
    if not app.ready.wait(startup_timeout):
        server.should_exit = True
        raise RuntimeError("the ampkit server did not start")
    return RunningServer(_url(config.host, port), port, app, server, thread)


class StoreOpenError(ValueError):
    """The ``--db`` file cannot be opened (a folder that cannot be made, a file that is not a
    DuckDB database, one another process holds)."""


def run_server(config: ServerConfig, announce: Callable[[str], None] | None = None) -> None:
    """Serve in the foreground until SIGINT/SIGTERM, then shut down cleanly.

    ``announce`` receives the URL once the port is bound (useful with port 0)."""
    sock = _listen(config.host, config.port)
    try:
        store = Store(config)
    except (OSError, duckdb.Error) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f"--db {config.db}" if config.db is not None else "the in-memory store"
        raise StoreOpenError(f"{where}: cannot open it as the store: "
                             f"{' '.join(reason.split())}") from None
    app = create_app(store)
    if announce is not None:
        announce(_url(config.host, sock.getsockname()[1]))
    try:
        _uvicorn(app, config).run(sockets=[sock])
    finally:
        app.store.close()
