"""Named connections, found where Sling finds them, so a Sling replication file
(``source: AMPLITUDE``, ``target: MY_POSTGRES``) runs unchanged.

A name is looked up, case-insensitively, in

1. an **environment variable** of that name: a connection as YAML/JSON
   (``export AMPLITUDE='{ type: api, spec: amplitude, secrets: {…} }'``) or a URL
   (``export MY_POSTGRES=postgresql://…``, ``duckdb:///file.duckdb``, ``file:///dir``);
2. ``connections:`` of **Sling's env file**, ``$SLING_HOME_DIR/env.yaml`` (default
   ``~/.sling/env.yaml``), as ``sling conns set`` writes it;
3. for the source only: ampkit's own ``AMPLITUDE_API_KEY`` / ``AMPLITUDE_SECRET_KEY``.

An environment variable wins over the env file, as in Sling.  ``${VAR}`` in a string of the env
file is replaced by that variable.  Secrets are kept as :class:`~pydantic.SecretStr` and no
error message quotes a connection's values.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ampkit.errors import ConfigError
from ampkit.models.base import parse_error_text

SLING_HOME_ENV = "SLING_HOME_DIR"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
"""What a connection name looks like (a target with a dot, a slash or ``://`` is a path/URL)."""
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def sling_env_file(env: Mapping[str, str] | None = None) -> Path:
    """``$SLING_HOME_DIR/env.yaml`` (default ``~/.sling/env.yaml``)."""
    env = os.environ if env is None else env
    home = env.get(SLING_HOME_ENV)
    return (Path(home).expanduser() if home else Path.home() / ".sling") / "env.yaml"


def is_connection_name(text: str) -> bool:
    return bool(NAME.match(text.strip()))


class _Conn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class AmplitudeSecrets(_Conn):
    api_key: SecretStr = Field(min_length=1)
    secret_key: SecretStr = Field(min_length=1)


class AmplitudeInputs(_Conn):
    anchor_date: dt.date | None = None
    """First day of the first incremental run (``YYYY-MM-DD``)."""
    base_url: str | None = None
    """Where Amplitude is (default ``https://amplitude.com``; a local ``ampkit serve``)."""

    @field_validator("anchor_date", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                raise ValueError("use YYYY-MM-DD") from None
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.strip().rstrip("/")


class AmplitudeConnectionSpec(_Conn):
    """Sling's Amplitude connection: ``type: api``, ``spec: amplitude``, secrets and inputs."""

    type: Literal["api"]
    spec: Literal["amplitude"]
    secrets: AmplitudeSecrets
    inputs: AmplitudeInputs = Field(default_factory=AmplitudeInputs)


class SourceConnection(BaseModel):
    """The Amplitude side, resolved.  ``api_key is None``: ampkit's ``AMPLITUDE_*`` variables."""

    model_config = ConfigDict(frozen=True)

    name: str
    origin: str
    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    base_url: str | None = None
    anchor_date: dt.date | None = None


class PostgresSpec(_Conn):
    type: Literal["postgres", "postgresql"]
    url: SecretStr | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None
    database: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    sslmode: str | None = None

    def target(self, where: str) -> str:
        if self.url is not None:
            url = self.url.get_secret_value()
            if not url.startswith(("postgres://", "postgresql://")):
                raise ConfigError(f"{where}: url must start with postgresql://")
            if self.sslmode:
                url += ("&" if "?" in url else "?") + urlencode({"sslmode": self.sslmode})
            return url
        missing = [f for f in ("host", "database") if getattr(self, f) is None]
        if missing:
            raise ConfigError(f"{where}: {', '.join(missing)}: required (or give url)")
        auth = quote(self.user or "", safe="")
        if self.password is not None:
            auth += ":" + quote(self.password.get_secret_value(), safe="")
        host = self.host or ""
        netloc = f"{auth}@{host}" if auth else host
        if self.port:
            netloc += f":{self.port}"
        tail = f"?{urlencode({'sslmode': self.sslmode})}" if self.sslmode else ""
        return f"postgresql://{netloc}/{quote(self.database or '', safe='')}{tail}"


class DuckDBSpec(_Conn):
    type: Literal["duckdb"]
    instance: str | None = Field(default=None, min_length=1)
    url: str | None = None
    schema_: str | None = Field(default=None, alias="schema")

    def target(self, where: str) -> str:
        if self.instance:
            return f"duckdb://{Path(self.instance).expanduser()}"
        if self.url and self.url.startswith("duckdb://"):
            return self.url
        raise ConfigError(f"{where}: instance: required (the DuckDB file's path)")


class LocalSpec(_Conn):
    type: Literal["local", "file"]
    url: str = "file://."

    def target(self, where: str) -> str:
        if not self.url.startswith("file://"):
            raise ConfigError(f"{where}: url must start with file://")
        path = self.url[len("file://"):] or "."
        return f"parquet://{Path(path).expanduser()}"


class TargetConnection(BaseModel):
    """A destination connection, resolved to a target string ``open_destination`` reads."""

    model_config = ConfigDict(frozen=True)

    name: str
    origin: str
    target: str = Field(repr=False)
    """May hold a password: never printed (``describe_target`` hides it)."""
    schema_: str | None = Field(default=None, alias="schema")


def _expand(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: _expand(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env) for v in value]
    return value


def _from_env(name: str, env: Mapping[str, str]) -> tuple[dict[str, Any], str] | None:
    key = next((k for k in env if k.upper() == name.upper()), None)
    if key is None:
        return None
    text = env[key].strip()
    where = f"environment variable {key}"
    if "://" in text and not text.startswith(("{", "[")) and "\n" not in text:
        return {"url": text}, where
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):
        raise ConfigError(f"{where}: not a connection (neither YAML/JSON nor a URL)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: not a connection (neither YAML/JSON with a type nor a URL)")
    return data, where


def _from_file(name: str, env: Mapping[str, str]) -> tuple[dict[str, Any], str] | None:
    path = sling_env_file(env)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: a date like 2024-02-30
        raise ConfigError(f"{path}: not valid YAML ({parse_error_text(exc)})") from None
    conns = data.get("connections") if isinstance(data, dict) else None
    if not isinstance(conns, dict):
        return None
    key = next((k for k in conns if str(k).upper() == name.upper()), None)
    if key is None:
        return None
    where = f"{path} (connections.{key})"
    body = conns[key]
    if isinstance(body, str):
        body = {"url": body}
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: a connection must be a mapping")
    return _expand(body, env), where


def find(name: str, env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], str] | None:
    """A connection's raw settings and where they were found (``None``: nowhere)."""
    env = os.environ if env is None else env
    return _from_env(name, env) or _from_file(name, env)


def looked_in(name: str, env: Mapping[str, str] | None = None) -> str:
    return f"environment variable {name}, {sling_env_file(env)} (connections.{name})"


def _invalid(where: str, exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "connection"
    return ConfigError(f"{where}: {loc}: {first['msg']}")


def source_connection(name: str, env: Mapping[str, str] | None = None) -> SourceConnection:
    """The Amplitude connection ``name`` (a :class:`ConfigError` naming where it looked)."""
    env = os.environ if env is None else env
    found = find(name, env)
    if found is None:
        if env.get("AMPLITUDE_API_KEY") and env.get("AMPLITUDE_SECRET_KEY"):
            return SourceConnection(name=name, origin="AMPLITUDE_API_KEY/AMPLITUDE_SECRET_KEY")
        raise ConfigError(
            f"source connection {name!r} not found: looked in {looked_in(name, env)} and "
            "AMPLITUDE_API_KEY/AMPLITUDE_SECRET_KEY (set SLING_HOME_DIR to use another env.yaml)"
        )
    data, where = found
    if "url" in data and "type" not in data:
        raise ConfigError(f"{where}: an Amplitude connection is not a URL (type: api, "
                          "spec: amplitude, secrets: {api_key, secret_key})")
    if data.get("type") != "api" or data.get("spec") != "amplitude":
        raise ConfigError(f"{where}: connection {name!r} is not an Amplitude connection "
                          "(type: api, spec: amplitude)")
    try:
        spec = AmplitudeConnectionSpec.model_validate(data)
    except ValidationError as exc:
        raise _invalid(where, exc) from None
    return SourceConnection(name=name, origin=where, api_key=spec.secrets.api_key,
                            secret_key=spec.secrets.secret_key, base_url=spec.inputs.base_url,
                            anchor_date=spec.inputs.anchor_date)


_URL_KINDS = {"postgres": "postgres", "postgresql": "postgres", "duckdb": "duckdb",
              "file": "local"}
TargetSpec = PostgresSpec | DuckDBSpec | LocalSpec
_SPECS: dict[str, type[TargetSpec]] = {"postgres": PostgresSpec, "postgresql": PostgresSpec,
                                        "duckdb": DuckDBSpec, "local": LocalSpec,
                                        "file": LocalSpec}


def target_connection(name: str, env: Mapping[str, str] | None = None
                      ) -> TargetConnection | None:
    """The destination connection ``name`` (``None``: no connection has that name)."""
    env = os.environ if env is None else env
    found = find(name, env)
    if found is None:
        return None
    data, where = found
    if "type" not in data and isinstance(data.get("url"), str):
        scheme = data["url"].partition("://")[0].lower()
        if scheme not in _URL_KINDS:
            raise ConfigError(f"{where}: unsupported target URL scheme {scheme!r} (ampkit writes "
                              "postgresql://, duckdb:// and file:// for Parquet)")
        data = {**data, "type": _URL_KINDS[scheme]}
    kind = str(data.get("type", ""))
    model = _SPECS.get(kind)
    if model is None:
        raise ConfigError(f"{where}: type: ampkit writes to postgres, duckdb or local (Parquet "
                          f"files), not {kind or 'an untyped connection'}")
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(where, exc) from None
    schema = spec.schema_ if isinstance(spec, PostgresSpec | DuckDBSpec) else None
    return TargetConnection(name=name, origin=where, target=spec.target(where), schema=schema)


__all__ = [
    "SLING_HOME_ENV",
    "SourceConnection",
    "TargetConnection",
    "find",
    "is_connection_name",
    "looked_in",
    "sling_env_file",
    "source_connection",
    "target_connection",
]
