"""What to send and what came back — plain frozen data, no I/O, no secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from ampkit.config import Family

AuthKind = Literal["none", "json_body_key", "form_key", "basic", "api_key_header"]
Expect = Literal["2xx", "ingest_summary", "identify_success"]
"""Which answers count as success: any 2xx; only a 200 with the HTTP V2/Batch success body
(``SuccessSummary``); only a 200 whose body is ``success`` (Identify, Group Identify)."""


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One HTTP request, described as data.

    Secrets are not part of a spec: ``auth`` says how the transport adds them at send time, so a
    spec can be logged, compared and tested freely.
    """

    method: str
    path: str
    family: Family
    endpoint: str = ""
    """What errors and logs name the request by: its path unless given."""
    params: tuple[tuple[str, str], ...] = ()
    content: bytes | None = None
    form: tuple[tuple[str, str], ...] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    auth: AuthKind = "none"
    limit_class: str = "ingest"
    cost: int = 1
    """What the request costs in its limit class (a Dashboard query's §10.2 cost, worked out
    when the request is built: the driver charges it, nothing looks it up again)."""
    handled_statuses: frozenset[int] = field(default_factory=frozenset)
    """Statuses returned to the caller (a flow) instead of being retried or raised."""
    timeout: float | None = None
    stream: bool = False
    expect: Expect = "2xx"
    """The success answer; any other 2xx is retried like a 5xx (see :mod:`ampkit.core.expect`)."""
    resend_when_unsure: bool = True
    """Whether an attempt whose effect is unknown — the connection broke once the request was
    sent, no answer in time, a 5xx, a 2xx other than the success answer — may be sent again.
    ``False`` for a request the server would apply twice (an Identify API call that
    ``$add``s): such an attempt raises instead, saying it may have been applied."""

    def __post_init__(self) -> None:
        if not self.endpoint:
            object.__setattr__(self, "endpoint", self.path)

    @property
    def key_in_body(self) -> bool:
        """The API key travels in the body: redirects are followed within the origin only."""
        return self.auth in ("json_body_key", "form_key")


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A complete answer: status, lower-cased headers and the body bytes."""

    status: int
    headers: dict[str, str]
    content: bytes
    elapsed: float = 0.0

    def json(self) -> Any:
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")
