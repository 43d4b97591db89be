"""The served OpenAPI document is valid OpenAPI 3.1 and names exactly the routes the app
serves (path and method), so the fuzzer that reads it reaches every route."""

from __future__ import annotations

import re

import httpx
from openapi_spec_validator import validate
from tests.server.conftest import Api

from ampkit.server import ServerConfig, Store, create_app
from ampkit.server.openapi import document


def served_operations() -> set[tuple[str, str]]:
    app = create_app(Store(ServerConfig()))
    out = set()
    for route in app.asgi.routes:
        path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", route.path)  # {user_id:path} → {user_id}
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                out.add((path, method.lower()))
    return out


def test_document_is_valid_openapi_31() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on anything that breaks the OpenAPI 3.1 schema


def test_every_route_is_documented_and_every_operation_served() -> None:
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    served = served_operations()
    assert len(served) > 55
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


def test_every_operation_documents_a_success_and_its_auth_failure() -> None:
    for path, ops in document()["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert any(c.startswith("2") for c in codes), (method, path)
            if op["security"]:
                assert "401" in codes, (method, path)


def test_openapi_json_is_served_without_auth(api: Api) -> None:
    r = httpx.get(f"{api.running.url}/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == document()


def test_dashboard_parameters_come_from_the_server_models() -> None:
    users = {p["name"]: p for p in document()["paths"]["/api/2/users"]["get"]["parameters"]}
    assert users["start"]["schema"]["pattern"] == "^[0-9]{8}$"
    assert users["i"]["schema"]["enum"] == [1, 7, 30]
    funnels = {p["name"]: p for p in document()["paths"]["/api/2/funnels"]["get"]["parameters"]}
    assert funnels["cs"]["schema"]["maximum"] == 366 * 86_400
    assert "content" in users["s"] and "schema" not in users["s"]
