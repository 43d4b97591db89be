"""The Starlette application: the routes table, the request gate, fault middleware, lifespan.

Every route is a module-level handler that parses its input, calls a service
(:mod:`ampkit.server.services`) through the app's
:class:`~ampkit.server.services.backend.Backend` (``request.app.state.backend``) and renders
the answer; the services run in worker threads, never on the event loop."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from ampkit.server import catalog
from ampkit.server.faults import FaultMiddleware, Faults
from ampkit.server.gate import GateMiddleware
from ampkit.server.query.endpoints import ENDPOINTS
from ampkit.server.routes import (
    admin,
    cohorts,
    dashboard,
    export,
    ingest,
    openapi,
    profile,
    taxonomy,
)
from ampkit.server.routes import annotations as notes
from ampkit.server.routes.taxonomy import BASE as TAXONOMY
from ampkit.server.services.backend import Backend
from ampkit.server.store import Store

GET, POST = ["GET"], ["POST"]

ROUTES: list[BaseRoute] = [
    Route("/health", openapi.health, methods=GET),
    Route("/openapi.json", openapi.openapi, methods=GET),
    # ingestion (reference §2–5)
    Route("/2/httpapi", ingest.httpapi, methods=POST),
    Route("/batch", ingest.batch, methods=POST),
    Route("/identify", ingest.identify_user, methods=["GET", "POST"]),
    Route("/groupidentify", ingest.identify_group, methods=["GET", "POST"]),
    # admin
    Route("/_ampkit/events", admin.events, methods=GET),
    Route("/_ampkit/stats", admin.stats, methods=GET),
    Route("/_ampkit/users/{user_id:path}", admin.user, methods=GET),
    Route("/_ampkit/groups/{group_type}/{group_value:path}", admin.group, methods=GET),
    Route("/_ampkit/faults", admin.faults, methods=["GET", "POST"]),
    Route("/_ampkit/reset", admin.reset, methods=POST),
    Route("/_ampkit/charts", dashboard.save_chart, methods=POST),
    # export (§9), user profile (§12)
    Route("/api/2/export", export.export, methods=GET),
    Route("/v1/userprofile", profile.profile, methods=GET),
    # annotations (§11)
    Route("/api/2/annotations", notes.v2, methods=["GET", "POST"]),
    Route("/api/3/annotations", notes.v3_collection, methods=["GET", "POST"]),
    Route("/api/3/annotations/{annotation_id}", notes.v3_item,
          methods=["GET", "PUT", "DELETE"]),
    Route("/api/3/annotation-categories", notes.category_collection,
          methods=["GET", "POST"]),
    Route("/api/3/annotation-categories/{category_id}", notes.category_item,
          methods=["GET", "PUT", "DELETE"]),
    # cohorts (§13)
    Route("/api/3/cohorts", cohorts.list_cohorts, methods=GET),
    Route("/api/3/cohorts/upload", cohorts.upload, methods=POST),
    Route("/api/3/cohorts/membership", cohorts.membership, methods=POST),
    Route("/api/5/cohorts/request/{cohort_id}", cohorts.request_download, methods=GET),
    Route("/api/5/cohorts/request-status/{request_id}", cohorts.status, methods=GET),
    Route("/api/5/cohorts/request/{request_id}/file", cohorts.download, methods=GET),
    # taxonomy (§14)
    Route(f"{TAXONOMY}/event", taxonomy.events, methods=GET),
    Route(f"{TAXONOMY}/event/{{event_type:path}}", taxonomy.events, methods=GET),
    Route(f"{TAXONOMY}/event-property", taxonomy.event_properties, methods=GET),
    Route(f"{TAXONOMY}/event-property/{{event_property:path}}", taxonomy.event_properties,
          methods=GET),
    Route(f"{TAXONOMY}/user-property", taxonomy.user_properties, methods=GET),
    Route(f"{TAXONOMY}/user-property/{{user_property:path}}", taxonomy.user_properties,
          methods=GET),
    Route(f"{TAXONOMY}/category", taxonomy.categories, methods=["GET", "POST"]),
    Route(f"{TAXONOMY}/category/{{category_name}}", taxonomy.category_item,
          methods=["GET", "PUT", "DELETE"]),
    # Dashboard REST (§10): one handler, bound to each computed path; saved charts
    *(Route(path, partial(dashboard.query, path), methods=GET) for path in ENDPOINTS),
    Route("/api/3/chart/{chart_id}/query", dashboard.chart_query, methods=GET),
    Route("/api/3/chart/{chart_id}/csv", dashboard.chart_csv, methods=GET),
]
"""Every route the server answers (``GET`` routes answer ``HEAD`` too)."""


class ServerApp:
    """The app and the objects behind it (so tests and the runner can reach them)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.transaction() as con:
            catalog.install(con)
        self.ready = threading.Event()
        self.loop_thread: threading.Thread | None = None
        """The thread the event loop runs in, once started."""
        self.faults = Faults(store.config.faults, self._count_fault)
        self.asgi = Starlette(
            routes=ROUTES,
            middleware=[Middleware(GateMiddleware, cap_for=store.config.limits.body_cap),
                        Middleware(FaultMiddleware, faults=self.faults,
                                   by_basic=self._basic_project, by_secret=self._secret_project)],
            lifespan=self._lifespan,
        )
        self.asgi.state.backend = Backend(store, self.faults)

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.loop_thread = threading.current_thread()
        self.ready.set()
        yield

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
