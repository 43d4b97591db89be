"""The Starlette application: routes table, fault middleware, lifespan."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ampkit.server import catalog
from ampkit.server.faults import FaultMiddleware, Faults
from ampkit.server.routes import admin, cohorts, dashboard, export, ingest, profile, taxonomy
from ampkit.server.routes import annotations as annotation_routes
from ampkit.server.store import Store


class ServerApp:
    """The app and the objects behind it (so tests and the runner can reach them)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        catalog.install(store)
        self.ready = threading.Event()
        self.faults = Faults(store.config.faults, self._count_fault)

        async def health(request: Request) -> Response:
            return JSONResponse({"status": "ok", "projects": len(store.projects)})

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.ready.set()
            yield

        self.asgi = Starlette(
            routes=[Route("/health", health, methods=["GET"]),
                    *ingest.routes(store), *admin.routes(store, self.faults),
                    *export.routes(store), *profile.routes(store),
                    *annotation_routes.routes(store), *cohorts.routes(store),
                    *taxonomy.routes(store), *dashboard.routes(store)],
            middleware=[Middleware(FaultMiddleware, faults=self.faults)],
            lifespan=lifespan,
        )

    def _count_fault(self, kind: str) -> None:
        self.store.counters["faults_injected"] += 1


def create_app(store: Store) -> ServerApp:
    return ServerApp(store)
