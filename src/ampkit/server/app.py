"""The Starlette application: the routes table, the request gate, fault middleware, lifespan.

Every route names a module-level handler per method (:func:`route`) that parses its input,
calls a service (:mod:`ampkit.server.services`) through the app's
:class:`~ampkit.server.services.backend.Backend` (``request.app.state.backend``) and renders
the answer; the services run in worker threads, never on the event loop."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ampkit.server import catalog
from ampkit.server.faults import FaultMiddleware, Faults
from ampkit.server.gate import GateMiddleware
from ampkit.server.proxy import AbsoluteFormMiddleware
from ampkit.server.query.endpoints import ENDPOINTS
from ampkit.server.routes import (
    admin,
    cohorts,
    dashboard,
    export,
    ingest,
    openapi,
    plan,
    profile,
    taxonomy,
    ui,
)
from ampkit.server.routes import annotations as notes
from ampkit.server.routes.common import Endpoint
from ampkit.server.routes.taxonomy import BASE as TAXONOMY
from ampkit.server.services.backend import Backend
from ampkit.server.store import Store

# A multipart body that does not parse is the client's: answered 400 naming the body, not
# logged as the parser's warning on every bad request (a client could fill the log with them).
logging.getLogger("python_multipart.multipart").setLevel(logging.ERROR)


def route(path: str, **handlers: Endpoint) -> Route:
    """``path``'s route: the handler of each method, named by the method in lower case
    (``get=…``, ``post=…``; ``get`` answers ``HEAD`` too, and a method not named is a 405)."""
    methods = [method.upper() for method in handlers]
    distinct = set(handlers.values())
    if len(distinct) == 1:
        return Route(path, distinct.pop(), methods=methods)

    async def by_method(request: Request) -> Response:
        method = request.method.lower()
        return await handlers["get" if method == "head" else method](request)

    return Route(path, by_method, methods=methods)


ROUTES: list[BaseRoute] = [
    route("/health", get=openapi.health),
    route("/openapi.json", get=openapi.openapi),
    # ingestion (reference §2–5)
    route("/2/httpapi", post=ingest.httpapi),
    route("/batch", post=ingest.batch),
    route("/identify", get=ingest.identify_user, post=ingest.identify_user),
    route("/groupidentify", get=ingest.identify_group, post=ingest.identify_group),
    # admin
    route("/_ampkit/events", get=admin.events),
    route("/_ampkit/events/counts", get=admin.counts),  # before the insert_id look-up
    route("/_ampkit/events/{insert_id:path}", get=admin.event),
    route("/_ampkit/ui", get=ui.page),
    route("/_ampkit/ui/app.js", get=ui.script),
    route("/_ampkit/ui/style.css", get=ui.style),
    route("/_ampkit/stats", get=admin.stats),
    route("/_ampkit/users/{user_id:path}", get=admin.user),
    route("/_ampkit/groups/{group_type}/{group_value:path}", get=admin.group),
    route("/_ampkit/faults", get=admin.faults, post=admin.set_faults),
    route("/_ampkit/reset", post=admin.reset),
    route("/_ampkit/bad-events", get=plan.bad_events),
    route("/_ampkit/bad-requests/{request_id}", get=plan.bad_request),
    route("/_ampkit/plan", get=plan.plan),
    route("/_ampkit/charts", post=dashboard.save_chart),
    # export (§9), user profile (§12)
    route("/api/2/export", get=export.export),
    route("/v1/userprofile", get=profile.profile),
    # annotations (§11)
    route("/api/2/annotations", get=notes.v2_list, post=notes.v2_create),
    route("/api/3/annotations", get=notes.v3_list, post=notes.v3_create),
    route("/api/3/annotations/{annotation_id}",
          get=notes.v3_find, put=notes.v3_update, delete=notes.v3_delete),
    route("/api/3/annotation-categories", get=notes.categories, post=notes.create_category),
    route("/api/3/annotation-categories/{category_id}",
          get=notes.find_category, put=notes.rename_category, delete=notes.delete_category),
    # cohorts (§13)
    route("/api/3/cohorts", get=cohorts.list_cohorts),
    route("/api/3/cohorts/upload", post=cohorts.upload),
    route("/api/3/cohorts/membership", post=cohorts.membership),
    route("/api/5/cohorts/request/{cohort_id}", get=cohorts.request_download),
    route("/api/5/cohorts/request-status/{request_id}", get=cohorts.status),
    route("/api/5/cohorts/request/{request_id}/file", get=cohorts.download),
    # taxonomy (§14): each list, and one item of it by name
    route(f"{TAXONOMY}/event", get=taxonomy.events),
    route(f"{TAXONOMY}/event/{{event_type:path}}", get=taxonomy.events),
    route(f"{TAXONOMY}/event-property", get=taxonomy.event_properties),
    route(f"{TAXONOMY}/event-property/{{event_property:path}}", get=taxonomy.event_properties),
    route(f"{TAXONOMY}/user-property", get=taxonomy.user_properties),
    route(f"{TAXONOMY}/user-property/{{user_property:path}}", get=taxonomy.user_properties),
    route(f"{TAXONOMY}/category", get=taxonomy.categories, post=taxonomy.create_category),
    route(f"{TAXONOMY}/category/{{category_name:path}}", get=taxonomy.categories,
          put=taxonomy.rename_category, delete=taxonomy.delete_category),
    # Dashboard REST (§10): one handler, bound to each computed path; saved charts
    *(route(path, get=partial(dashboard.query, path=path)) for path in ENDPOINTS),
    route("/api/3/chart/{chart_id}/query", get=dashboard.chart_query),
    route("/api/3/chart/{chart_id}/csv", get=dashboard.chart_csv),
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
            middleware=[Middleware(AbsoluteFormMiddleware),
                        Middleware(GateMiddleware, cap_for=store.config.limits.body_cap),
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
