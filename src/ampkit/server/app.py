"""The Starlette application: routes table, the request gate, fault middleware, lifespan."""

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
from ampkit.server.gate import GateMiddleware
from ampkit.server.routes import admin, cohorts, dashboard, export, ingest, profile, taxonomy
from ampkit.server.routes import annotations as annotation_routes
from ampkit.server.routes import openapi as openapi_routes
from ampkit.server.store import Store


class ServerApp:
    """The app and the objects behind it (so tests and the runner can reach them)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        catalog.install(store)
        self.ready = threading.Event()
        self.faults = Faults(store.config.faults, self._count_fault)

        async def health(request: Request) -> Response:
            return JSONResponse({"status": "ok"})  # nothing about the projects it serves

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.ready.set()
            yield

        self.asgi = Starlette(
            routes=[Route("/health", health, methods=["GET"]),
                    *ingest.routes(store, self.faults), *admin.routes(store, self.faults),
                    *export.routes(store), *profile.routes(store),
                    *annotation_routes.routes(store), *cohorts.routes(store),
                    *taxonomy.routes(store), *dashboard.routes(store),
                    *openapi_routes.routes(store)],
            middleware=[Middleware(GateMiddleware, cap_for=store.config.limits.body_cap),
                        Middleware(FaultMiddleware, faults=self.faults,
                                   by_basic=self._basic_project, by_secret=self._secret_project)],
            lifespan=lifespan,
        )

    def _basic_project(self, api_key: str, secret_key: str) -> int | None:
        project = self.store.project_for_basic(api_key, secret_key)
        return None if project is None else project.project_id

    def _secret_project(self, secret_key: str) -> int | None:
        project = self.store.project_for_secret(secret_key)
        return None if project is None else project.project_id

    def _count_fault(self, kind: str, project_id: int | None) -> None:
        self.store.counters["faults_injected"] += 1
        if project_id is not None:
            self.store.states[project_id].counters["faults_injected"] += 1


def create_app(store: Store) -> ServerApp:
    return ServerApp(store)
