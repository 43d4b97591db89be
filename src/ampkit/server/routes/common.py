"""What the routes share: the app's :class:`Backend`, Basic auth (:func:`authed`), Amplitude's
Dashboard error envelope, and parsing query strings and JSON bodies into pydantic models — a
field that breaks a rule is a :class:`BadInput`, which the route answers 400 naming the field
(:func:`bad_input`).

A handler behind :func:`authed` may answer early by raising :class:`Refusal` (what
:func:`refusing` and :func:`bad_input` turn an exception into), so each step of parse → call →
render states its own failure answer in one line."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar, get_origin

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import ErrorDetails
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ampkit.models.base import error_line
from ampkit.server.config import ProjectConfig
from ampkit.server.filters import EPOCH
from ampkit.server.services.backend import Backend

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
E = TypeVar("E", bound=Exception)
P = ParamSpec("P")

Endpoint = Callable[[Request], Awaitable[Response]]
"""What the routes table binds a path to."""


def backend(request: Request) -> Backend:
    """The objects behind the app serving this request."""
    found: Backend = request.app.state.backend
    return found


# --- auth ----------------------------------------------------------------------------------
def basic_project(request: Request) -> ProjectConfig | None:
    """The project whose ``api_key:secret_key`` pair is in the Basic header."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    api_key, sep, secret = pair.partition(":")
    return backend(request).project_for_basic(api_key, secret) if sep else None


def unauthorized() -> Response:
    return JSONResponse({"error": {"http_code": 401, "type": "unauthorized",
                                   "message": "Invalid API key or secret key"}},
                        status_code=401, headers={"WWW-Authenticate": 'Basic realm="ampkit"'})


class Refusal(Exception):
    """Raised inside a handler behind :func:`authed` to answer ``response`` at once."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def authed(handler: Callable[Concatenate[Request, ProjectConfig, P], Awaitable[Response]],
           ) -> Callable[Concatenate[Request, P], Awaitable[Response]]:
    """``handler`` behind Basic auth (401 without a project's key pair), given the project;
    a :class:`Refusal` raised inside is its answer."""
    @wraps(handler)
    async def endpoint(request: Request, /, *args: P.args, **kwargs: P.kwargs) -> Response:
        project = basic_project(request)
        if project is None:
            return unauthorized()
        try:
            return await handler(request, project, *args, **kwargs)
        except Refusal as refusal:
            return refusal.response

    return endpoint


@contextmanager
def refusing(kind: type[E], answer: Callable[[E], Response]) -> Iterator[None]:
    """A ``kind`` raised inside is answered ``answer(exc)`` (a :class:`Refusal`)."""
    try:
        yield
    except kind as exc:
        raise Refusal(answer(exc)) from None


# --- answers -------------------------------------------------------------------------------
_TYPES = {400: "invalid_request", 403: "forbidden", 404: "not_found", 409: "conflict",
          429: "too_many_requests", 500: "internal_error", 504: "timeout"}


def error_response(status: int, message: str, details: str | None = None,
                   kind: str | None = None, **metadata: Any) -> Response:
    """``{"error": {"http_code", "type", "message", "metadata": {"details"}}}`` (§10.4);
    ``kind`` overrides the ``type`` the status gives."""
    meta: dict[str, Any] = dict(metadata)
    if details is not None:
        meta["details"] = details
    body = {"error": {"http_code": status, "type": kind or _TYPES.get(status, "error"),
                      "message": message, "metadata": meta}}
    return JSONResponse(body, status_code=status)


def bad_input(message: str, *, parameter: bool = True) -> AbstractContextManager[None]:
    """A :class:`BadInput` raised inside is answered 400 ``message``, its rule the details and
    (``parameter``) its field ``metadata.parameter``."""
    def answer(exc: BadInput) -> Response:
        named = {"parameter": exc.field} if parameter else {}
        return error_response(400, message, str(exc), **named)

    return refusing(BadInput, answer)


def json_response(body: Any, status: int = 200) -> Response:
    """Any JSON-able body (datetimes too), written by orjson."""
    return Response(orjson.dumps(body), status, media_type="application/json")


def found_or_404(value: Any, what: str,
                 render: Callable[[Any], Response] = json_response) -> Response:
    """``render(value)``, or a 404 ``{"error": "unknown <what>"}`` when it is ``None``."""
    if value is None:
        return JSONResponse({"error": f"unknown {what}"}, status_code=404)
    return render(value)


# --- parsing -------------------------------------------------------------------------------
class BadInput(ValueError):
    """A field that breaks a rule: answered 400 naming ``field``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def rule(check: Callable[[Any, str], T]) -> Callable[[Any, ValidationInfo], T]:
    """A pydantic validator from ``check(value, field name)``, which raises :class:`BadInput`
    (its message is the answer's details, as is)."""
    def validate(value: Any, info: ValidationInfo) -> T:
        return check(value, info.field_name or "")

    return validate


Describe = Callable[[ErrorDetails], str]
"""How a route family words a pydantic error in its answer's details."""


def dotted(err: ErrorDetails) -> str:
    """A pydantic error as ``where: what`` (``body`` when it has no place)."""
    return error_line(err, "body")


_INTEGER = re.compile(r"-?[0-9]{1,19}")
_EPOCH_MS = re.compile(r"[0-9]{1,16}")
LATEST = dt.datetime(9999, 12, 31, 23, 59, 59, 999000)


def integer_between(low: int, high: int) -> BeforeValidator:
    """A query parameter that must be an integer from ``low`` to ``high``."""
    def check(raw: Any, field: str) -> int:
        if not (isinstance(raw, str) and _INTEGER.fullmatch(raw) and low <= int(raw) <= high):
            raise BadInput(field, f"{field}: must be an integer from {low} to {high}")
        return int(raw)

    return BeforeValidator(rule(check))


def _to_utc(raw: str) -> dt.datetime:
    if _EPOCH_MS.fullmatch(raw):
        return EPOCH + dt.timedelta(milliseconds=int(raw))
    at = dt.datetime.fromisoformat(raw)
    return at if at.tzinfo is None else at.astimezone(dt.UTC).replace(tzinfo=None)


def instant() -> BeforeValidator:
    """A time as ISO-8601 (no zone: UTC) or as milliseconds since the epoch → naive UTC."""
    def check(raw: Any, field: str) -> dt.datetime:
        try:
            at = _to_utc(raw) if isinstance(raw, str) else None
        except (ValueError, OverflowError):
            at = None
        if at is None or not EPOCH <= at <= LATEST:
            raise BadInput(field, f"{field}: must be an ISO-8601 time (2024-03-01T12:00:00Z; "
                                  "without a zone, UTC) or milliseconds since 1970-01-01, "
                                  "from 1970 to 9999")
        return at

    return BeforeValidator(rule(check))


def field_of(err: ErrorDetails) -> str:
    return str(err["loc"][0]) if err["loc"] else "body"


def first_problem(exc: ValidationError, describe: Describe) -> BadInput:
    err = exc.errors()[0]
    raised = err.get("ctx", {}).get("error")
    if isinstance(raised, BadInput):
        return raised
    return BadInput(field_of(err), describe(err))


def validate(model: type[M], data: Any, describe: Describe) -> M:
    """``data`` as ``model``, or the :class:`BadInput` of its first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise first_problem(exc, describe) from None


def parse_json(model: type[M], raw: bytes, describe: Describe,
               not_object: str = "the body must be a JSON object") -> M:
    """A JSON object body as ``model``."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadInput("body", "the body must be JSON") from None
    if not isinstance(data, dict):
        raise BadInput("body", not_object)
    return validate(model, data, describe)


class Query(BaseModel):
    """Query parameters: unknown ones are ignored and an empty value counts as absent (as
    Amplitude takes them)."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != ""}
        return data


def parse_query(model: type[M], params: QueryParams, describe: Describe) -> M:
    """The query string as ``model``: a ``list`` field takes every value of its name, any
    other field one (the last, as ``params.get`` reads it)."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if get_origin(info.annotation) is list:
            if values := params.getlist(key):
                data[key] = values
        elif (value := params.get(key)) is not None:
            data[key] = value
    return validate(model, data, describe)
