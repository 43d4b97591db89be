"""Inputs written the way Amplitude writes them, read as the typed inputs they stand for.

Tools built on Amplitude's API — Appsmith's datasource (seed 000), curl examples in Amplitude's
own pages — name parameters and write values as the API does.  ampkit's inputs take them as
they are:

- **names**: a query's wire parameter names (``e``, ``m``, ``n``, ``i``, ``g``, ``s``, ``se``,
  ``p``…, each field's :class:`~ampkit.models.wire.Wire`) and the names a field declares with
  :class:`Native` are read as the field they stand for (``m=active`` is ``metric='active'``);
  a field given under two names is refused, naming both;
- **JSON text where an object or a list is expected**: ``'{"event_type":"Table Click"}'`` for
  an event, ``'[{"user_id": …}]'`` for a list of events, ``'{"k": "v"}'`` for a mapping.  Text
  that a field also takes as text stays text when it is not JSON (an event named
  ``[Amplitude] Page Viewed`` is a name); a field that takes no text names the JSON problem;
- **an Amplitude URL where a path is expected** (:func:`amplitude_url`): its host says the API
  family, its path and query string are kept — the request still goes to the configured host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import parse_qsl, urlsplit

import orjson
from pydantic import BaseModel
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from ampkit.models.hosts import REGION_HOSTS, Family
from ampkit.models.wire import Wire


@dataclass(frozen=True, slots=True)
class Native:
    """Another name of a field, as Amplitude or a tool on its API calls it (Appsmith's chart
    ``type`` for ``format``).  Put it in the field's ``Annotated`` metadata."""

    name: str


def input_error(field: str, rule: str) -> PydanticCustomError:
    """A validation error naming ``field`` and the rule (the shape of
    :func:`ampkit.models.dashboard.common.rule_error`, which this module can't import)."""
    return PydanticCustomError("ampkit_rule", "{field}: {rule}", {"field": field, "rule": rule})


# --- what a type takes ---------------------------------------------------------------------


def members(annotation: Any) -> list[Any]:
    """The types a (possibly ``Annotated``, possibly union) annotation is made of."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return members(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return [m for a in get_args(annotation) for m in members(a)]
    return [annotation]


def accepts_text(annotation: Any) -> bool:
    """Whether a field's type takes a plain string (``str``, ``str | None``, a ``Literal`` of
    strings, or a model read from a name such as :class:`EventDef`)."""
    for member in members(annotation):
        if member is str:
            return True
        if get_origin(member) is Literal and all(isinstance(a, str) for a in get_args(member)):
            return True
        if isinstance(member, type) and issubclass(member, BaseModel) and \
                getattr(member, "READS_NAME", False):
            return True
    return False


def _structured(annotation: Any) -> bool:
    """Whether a field's type takes an object or a list (a model, ``dict``, ``list``…)."""
    for member in members(annotation):
        origin = get_origin(member) or member
        if isinstance(origin, type) and (issubclass(origin, BaseModel | Mapping) or (
                issubclass(origin, Sequence) and not issubclass(origin, str | bytes))):
            return True
    return False


def json_text(value: Any, annotation: Any, field: str) -> Any:
    """``value`` read as JSON when it is text written as a JSON object or list and the field
    takes one (see the module docstring); otherwise ``value`` unchanged."""
    if not isinstance(value, str) or not _structured(annotation):
        return value
    text = value.strip()
    if not text.startswith(("{", "[")):
        return value
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if accepts_text(annotation):
            return value  # a name that starts with a bracket
        raise input_error(field, f"is not valid JSON ({exc})") from None


# --- names ---------------------------------------------------------------------------------


def native_names(model: type[BaseModel]) -> Mapping[str, str]:
    """``{other name: field}`` of a model: its fields' wire names and :class:`Native` names,
    except those that already are a field's name or camelCase alias."""
    return _native_names(model)


@cache
def _native_names(model: type[BaseModel]) -> Mapping[str, str]:
    own = {n for name in model.model_fields for n in (name, to_camel(name))}
    out: dict[str, str] = {}
    for name, info in model.model_fields.items():
        for meta in info.metadata:
            other = meta.name if isinstance(meta, Wire | Native) else None
            if other is not None and other not in own:
                out.setdefault(other, name)
    return out


def read_native(model: type[BaseModel], data: Any) -> Any:
    """``data`` for ``model`` with Amplitude's names and JSON text read (module docstring)."""
    if not isinstance(data, Mapping):
        return data
    names = native_names(model)
    fields = model.model_fields
    out = dict(data)
    for other, field in names.items():
        if other not in out:
            continue
        given = [n for n in (field, to_camel(field)) if n in out]
        if given:
            raise input_error(field, f"given twice, as {given[0]} and as {other} (Amplitude's "
                                     "name for it); give one")
        out[field] = out.pop(other)
    for key, value in out.items():
        info = fields.get(key)
        if info is not None:
            out[key] = json_text(value, info.annotation, key)
    return out


# --- URLs ----------------------------------------------------------------------------------

_EXTRA_HOSTS: Mapping[str, Family] = {"api.amplitude.com": "ingest",
                                      "analytics.amplitude.com": "analytics"}
HOST_FAMILY: Mapping[str, Family] = {
    **{url.removeprefix("https://"): family for hosts in REGION_HOSTS.values()
       for family, url in hosts.items() if url is not None},
    **_EXTRA_HOSTS}
"""Every Amplitude hostname and the API family it serves (reference §1.1–1.2)."""


@dataclass(frozen=True, slots=True)
class AmplitudeUrl:
    """A URL on one of Amplitude's hosts, split into what a request needs."""

    family: Family
    path: str
    params: tuple[tuple[str, str], ...]


def amplitude_url(text: str) -> AmplitudeUrl | None:
    """``https://amplitude.com/api/2/realtime?x=1`` → analytics, ``/api/2/realtime``,
    ``(("x", "1"),)``; ``None`` when ``text`` is not a URL (a path).  Raises ``ValueError`` for
    a URL on another host or carrying credentials (the keys go to the configured host only)."""
    if "://" not in text:
        return None
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError("a URL must be http(s)://<an Amplitude host>/…, or give a path "
                         "such as /api/2/events/list")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a URL may not carry credentials: ampkit adds your keys itself")
    host = (parts.hostname or "").lower()
    family = HOST_FAMILY.get(host)
    if family is None:
        raise ValueError(f"{host or 'the URL'} is not an Amplitude host (one of "
                         f"{', '.join(sorted(HOST_FAMILY))}); ampkit sends your keys only to "
                         "the host it is configured for")
    return AmplitudeUrl(family, parts.path or "/",
                        tuple(parse_qsl(parts.query, keep_blank_values=True)))


# --- headers -------------------------------------------------------------------------------

RESERVED_HEADERS = frozenset({"authorization", "host", "content-length", "transfer-encoding",
                              "cookie", "connection"})
"""Headers a raw request may not set: ampkit writes them (auth from the keys, the framing)."""
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
MAX_HEADERS = 50


def header_pairs(headers: Mapping[str, str] | Sequence[tuple[str, str]] | None
                 ) -> tuple[tuple[str, str], ...]:
    """Extra request headers, checked: a valid name, not one ampkit sets
    (:data:`RESERVED_HEADERS`), a value without line breaks.  Raises ``ValueError``."""
    items = list(headers.items() if isinstance(headers, Mapping) else headers or ())
    if len(items) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    out = []
    for name, value in items:
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(f"{str(name)[:40]!r} is not a valid header name")
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"{name} is set by ampkit (auth comes from your keys)")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ValueError(f"{name}: the value must be text on one line")
        if not value.isascii():
            raise ValueError(f"{name}: the value must be ASCII (an HTTP header carries no "
                             "other characters; percent-encode them)")
        out.append((name, value))
    return tuple(out)


__all__ = ["HOST_FAMILY", "MAX_HEADERS", "RESERVED_HEADERS", "AmplitudeUrl", "Native",
           "accepts_text", "amplitude_url", "header_pairs", "input_error", "json_text",
           "members", "native_names", "read_native"]
