"""What a local server is: its projects, limits, throttles and injected faults.

Everything here is plain pydantic so it can come from CLI flags, a YAML/JSON file or Python.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ampkit.models.base import TimeZoneName, error_line, parse_error_text
from ampkit.models.plan import PlanError, TrackingPlan, as_plan
from ampkit.server.limits import DashboardLimitsConfig, ProfileLimitsConfig

DEMO_API_KEY = "ampkit-demo-api-key"
DEMO_SECRET_KEY = "ampkit-demo-secret-key"  # noqa: S105 - a public demo key
DEMO_PROJECT_ID = 100000

FAULT_KINDS = ("429", "500", "503", "504", "reset", "delay")
MAX_FAULT_DELAY = 60.0
"""The longest injected delay, in seconds: long enough to pass any client's timeout, short
enough that a request cannot hold a worker for good."""
FaultKind = Literal["429", "500", "503", "504", "reset", "delay"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _plan(value: Any) -> Any:
    """A plan given as a file path or its document, read and checked now (so a bad plan
    stops the server before it starts, naming the place in the file)."""
    if not isinstance(value, str | Path | Mapping) or isinstance(value, TrackingPlan):
        return value
    try:
        return as_plan(value)
    except PlanError as exc:
        raise PydanticCustomError("tracking_plan", "{detail}", {"detail": str(exc)}) from None


PlanSetting = Annotated[TrackingPlan | None, BeforeValidator(_plan)]
"""A tracking plan: a YAML/JSON file path, its document, or a :class:`TrackingPlan`."""


class ProjectConfig(_Strict):
    """One Amplitude project: its id, its key pair and a few per-project behaviours."""

    project_id: int = Field(default=DEMO_PROJECT_ID, ge=1)
    api_key: SecretStr = SecretStr(DEMO_API_KEY)
    secret_key: SecretStr = SecretStr(DEMO_SECRET_KEY)
    name: str = "Local project"
    timezone: TimeZoneName = "UTC"
    """Project time zone for Dashboard dates (Export hours are UTC)."""
    silenced_devices: list[str] = Field(default_factory=list)
    """device_ids answered with the 400 ``Events silenced for device_id`` shape."""
    plan: PlanSetting = None
    """This project's tracking plan (instead of the server's ``plan``)."""

    @field_validator("api_key", "secret_key")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


class ThrottleConfig(_Strict):
    """Amplitude's per-user/device throttles (reference §2.9, §3.1–3.3)."""

    enabled: bool = True
    httpapi_eps: float = Field(default=30, gt=0)
    batch_eps: float = Field(default=1000, gt=0)
    window_seconds: float = Field(default=30, gt=0)
    """EPS is averaged over this window."""
    daily_quota: int = Field(default=500_000, ge=1)
    """Events per user/device per rolling 24 h (hourly buckets)."""


class LimitsConfig(_Strict):
    """Request size limits (413, refused before the body is read) and other caps."""

    httpapi_max_bytes: int = Field(default=1_000_000, ge=1)
    batch_max_bytes: int = Field(default=20_000_000, ge=1)
    identify_max_bytes: int = Field(default=1_000_000, ge=1)
    """``/identify`` and ``/groupidentify`` (Group Identify's documented 1 MB)."""
    other_max_bytes: int = Field(default=20_000_000, ge=1)
    """Every other route with a body (annotations, cohort uploads, charts, admin)."""

    def body_cap(self, path: str) -> int:
        """The most bytes a request body to ``path`` may have."""
        if path == "/2/httpapi":
            return self.httpapi_max_bytes
        if path == "/batch":
            return self.batch_max_bytes
        if path in ("/identify", "/groupidentify"):
            return self.identify_max_bytes
        return self.other_max_bytes
    max_events_per_request: int = Field(default=2000, ge=1)
    dedup_window_days: float = Field(default=7, gt=0)
    bad_events_kept: int = Field(default=10_000, ge=1)
    """Rows of the bad-event bucket kept per project (the newest; ``/_ampkit/bad-events``)."""
    max_user_properties_bytes: int = Field(default=262_144, ge=1024)
    """The most a user's (or group's) properties may weigh as JSON.  Every stored event
    carries its user's properties, so without a bound 1 MB of requests could make gigabytes
    of rows; an update past it is not applied (the event is stored, the bad-event bucket says
    so)."""


NEVER_FAULTED = ("/_ampkit", "/health", "/openapi.json")
"""Paths no fault applies to."""


class FaultConfig(_Strict):
    """A share of matching requests answered badly, for resilience tests.

    ``429``/``503``/``504``: refused before anything is stored (504 is what a too-large
    export answers).  ``500``: stored, then an error.
    ``reset``: stored, then the connection is cut in the middle of the response.
    ``delay``: stored, then the answer waits ``delay_seconds`` (past a client's timeout).
    """

    rates: dict[FaultKind, Annotated[float, Field(strict=True)]] = Field(default_factory=dict)
    delay_seconds: float = Field(default=2.0, ge=0, le=MAX_FAULT_DELAY)
    seed: StrictInt | None = None
    paths: list[str] = Field(default_factory=lambda: ["/2/httpapi", "/batch", "/identify",
                                                      "/groupidentify", "/api/", "/v1/"])
    """Path prefixes faults apply to (``/health``, ``/openapi.json`` and the admin routes
    ``/_ampkit/*`` are never faulted, whatever this says)."""

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[FaultKind, float]) -> dict[FaultKind, float]:
        for kind, rate in value.items():
            if not 0 <= rate <= 1:
                raise ValueError(f"rate for {kind!r} must be between 0 and 1")
        if sum(value.values()) > 1 + 1e-9:
            raise ValueError("fault rates must add up to at most 1")
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Prefixes that can match a faultable request (a fault that can never fire would
        leave a resilience test passing for the wrong reason)."""
        if not value and any(rate > 0 for rate in (info.data.get("rates") or {}).values()):
            raise ValueError("[] matches no request; leave it out for the default paths "
                             "(ingestion, /api/, /v1/)")
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"{path!r} must start with '/' (a path prefix such as "
                                 "'/2/httpapi')")
            if path.startswith(NEVER_FAULTED):
                raise ValueError(f"{path!r} is never faulted (admin routes, /health and "
                                 "/openapi.json answer whatever the faults say)")
        return value

    @property
    def active(self) -> bool:
        return any(rate > 0 for rate in self.rates.values())

    def applies_to(self, path: str) -> bool:
        return self.active and any(path.startswith(p) for p in self.paths)

    def pick(self, rng: random.Random) -> FaultKind | None:
        """Draw the fault for one request (or none)."""
        x = rng.random()
        acc = 0.0
        for kind in FAULT_KINDS:
            acc += self.rates.get(kind, 0.0)  # type: ignore[call-overload]
            if x < acc:
                return kind  # type: ignore[return-value]
        return None


def parse_fault_spec(spec: str) -> FaultConfig:
    """``"429=0.05,500=0.05,reset=0.02,delay=0.02,delay_seconds=2,seed=7"`` → FaultConfig."""
    rates: dict[str, float] = {}
    extra: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"fault spec item {part!r} must look like name=value")
        key = key.strip()
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"fault spec item {part!r}: value must be a number") from None
        if not math.isfinite(number):
            raise ValueError(f"fault spec item {part!r}: value must be a finite number")
        if key in FAULT_KINDS:
            rates[key] = number
        elif key == "delay_seconds":
            extra[key] = number
        elif key == "seed":
            extra[key] = int(number)
        else:
            raise ValueError(
                f"unknown fault {key!r}; known: {', '.join(FAULT_KINDS)}, delay_seconds, seed"
            )
    try:
        return FaultConfig.model_validate({"rates": rates, **extra})
    except ValidationError as exc:  # one line: the item and the rule
        raise ValueError(f"fault spec {error_line(exc.errors()[0], 'spec')}") from None


class ExportConfig(_Strict):
    """The Export API's behaviour (reference §9)."""

    delay_hours: float = Field(default=0, ge=0)
    """Amplitude makes an hour exportable ~2 h after it closes; 0 (default) = at once."""
    max_bytes: int = Field(default=4_000_000_000, ge=1)
    """Uncompressed size above which an export answers 400 (Amplitude: 4 GB)."""
    max_days: int = Field(default=365, ge=1)
    partition_events: int = Field(default=100_000, ge=1)
    """Events per ``#n`` file of one hour."""
    timezone: TimeZoneName = "UTC"
    """Time zone of the ``start``/``end`` hours (UTC assumed; reference §9.1)."""


_SIZE = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", re.IGNORECASE)
"""A DuckDB memory size: a number and a unit (``512MB``, ``2GiB``)."""


class ServerConfig(_Strict):
    """A whole local server."""

    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    db: Path | None = None
    """DuckDB file; ``None`` keeps everything in memory.  Created readable by its owner only."""
    memory_limit: str | None = None
    """DuckDB's memory limit (e.g. ``"512MB"``; ``None``: DuckDB's default, 80% of RAM).  With
    ``db`` set, this bounds the server's memory whatever it stores."""
    projects: list[ProjectConfig] = Field(default_factory=lambda: [ProjectConfig()])
    throttle: ThrottleConfig = Field(default_factory=ThrottleConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    faults: FaultConfig = Field(default_factory=FaultConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    dashboard_limits: DashboardLimitsConfig = Field(default_factory=DashboardLimitsConfig)
    profile_limits: ProfileLimitsConfig = Field(default_factory=ProfileLimitsConfig)
    plan: PlanSetting = None
    """The tracking plan of every project without its own (``ampkit serve --plan FILE``)."""
    identify_error_format: Literal["json", "text"] = "json"
    """Body of Identify/Group Identify 400s (undocumented by Amplitude)."""
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "warning"
    """uvicorn's log level."""

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and not _SIZE.fullmatch(value.strip()):
            raise ValueError(f"must be a size such as 512MB or 2GB, not {value!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _shortcuts(cls, data: Any) -> Any:
        if isinstance(data, dict) and "throttle_enabled" in data:
            data = dict(data)
            enabled = data.pop("throttle_enabled")
            throttle = data.get("throttle")
            if isinstance(throttle, ThrottleConfig):
                throttle = throttle.model_dump()
            data["throttle"] = {**(throttle or {}), "enabled": enabled}
        return data

    @model_validator(mode="after")
    def _unique_projects(self) -> ServerConfig:
        if not self.projects:
            raise ValueError("projects: at least one project is required")
        keys = [p.api_key.get_secret_value() for p in self.projects]
        ids = [p.project_id for p in self.projects]
        if len(set(keys)) != len(keys):
            raise ValueError("projects: two projects share an api_key")
        if len(set(ids)) != len(ids):
            raise ValueError("projects: two projects share a project_id")
        return self

    @property
    def uses_demo_keys(self) -> bool:
        return any(p.api_key.get_secret_value() == DEMO_API_KEY for p in self.projects)


def load_server_config(path: Path, **overrides: Any) -> ServerConfig:
    """Read a YAML or JSON config file (``projects:`` list, ``throttle:``, ``limits:``…)."""
    text = path.read_bytes()
    try:
        data = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError, ValueError) as exc:
        raise ValueError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                         f"{parse_error_text(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    data.update({k: v for k, v in overrides.items() if v is not None})
    return ServerConfig.model_validate(data)
