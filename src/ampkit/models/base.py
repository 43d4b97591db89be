"""The pydantic base shared by every ampkit model (client and server alike)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, AliasChoices, AliasGenerator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


def error_line(err: Mapping[str, Any], unplaced: str) -> str:
    """One pydantic error as ``where: rule`` — its location dotted (``unplaced`` when it has
    none), pydantic's ``Value error, `` prefix dropped: the line every CLI message, 400 detail
    and config error gives for a model that refused its input."""
    where = ".".join(str(p) for p in err.get("loc", ())) or unplaced
    return f"{where}: {str(err['msg']).removeprefix('Value error, ')}"


def _zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                         "Europe/Paris)") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_zone)]
"""An IANA time zone name this machine knows (``Europe/Paris``, ``UTC``), checked when read —
not at the first query that needs it."""


def parse_error_text(exc: BaseException) -> str:
    """What is wrong with a file a YAML (or JSON) reader refused, and where — never the text
    around it, which PyYAML quotes and which may hold a key (``secret_key: "abc…`` with its
    quote left open)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if problem is None:  # not PyYAML's marked error: a JSON position or a date's range
        return " ".join(str(exc).split())
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context = getattr(exc, "context", None)
    return f"{context + ': ' if context else ''}{problem}{where}"


def _validation_alias(name: str) -> AliasChoices:
    camel = to_camel(name)
    return AliasChoices(name, camel) if camel != name else AliasChoices(name)


class AmpModel(BaseModel):
    """Base model: unknown fields are kept, snake_case and camelCase keys are both accepted.

    Results from Amplitude keep fields we do not know yet (``extra="allow"``) so that drift in
    Amplitude's answers never breaks a caller; tests parse the real fixtures strictly instead.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=_validation_alias),
        ser_json_inf_nan="null",
        # a model's validator is built on its first use, not when its module is imported: a
        # client that only sends events never builds the 100-odd query and answer models
        defer_build=True,
    )

    def to_json_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True))


class StrictAmpModel(AmpModel):
    """Same as :class:`AmpModel` but refuses unknown fields (used for inputs we define)."""

    model_config = ConfigDict(extra="forbid")


JSONValue = Any
"""A value that can be written as JSON (pydantic validates the shape where it matters)."""
