"""Settings: key pair (as secrets), region → hosts, per-family base-URL overrides, env vars."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ampkit.errors import ConfigError, redact_urls, remember_url_password
from ampkit.models.hosts import REGION_HOSTS
from ampkit.models.hosts import Family as Family  # re-exported: where callers import them
from ampkit.models.hosts import Region as Region

HOSTS = REGION_HOSTS  # region → API family → base URL (one list: ampkit.models.hosts)


ENV_PREFIX = "AMPLITUDE_"


class Settings(BaseModel):
    """Where and how to reach Amplitude.

    Read from arguments first, then ``AMPLITUDE_API_KEY``, ``AMPLITUDE_SECRET_KEY``,
    ``AMPLITUDE_REGION``, ``AMPLITUDE_BASE_URL`` (points every family at one server, e.g. a local
    ``ampkit serve``) and the per-family ``AMPLITUDE_INGEST_URL``, ``AMPLITUDE_ANALYTICS_URL``,
    ``AMPLITUDE_PROFILE_URL``.  Keys are :class:`~pydantic.SecretStr`: never printed.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True,
                              hide_input_in_errors=True)  # a key or a URL password

    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    region: Region = "us"
    base_url: str | None = None
    ingest_url: str | None = None
    analytics_url: str | None = None
    profile_url: str | None = None
    timeout: float = Field(default=30.0, gt=0)

    def __repr_args__(self) -> Any:
        """The URLs without their passwords (the keys are ``SecretStr`` already)."""
        for name, value in super().__repr_args__():
            yield name, redact_urls(value) if isinstance(value, str) and name else value

    @model_validator(mode="before")
    @classmethod
    def _from_env(cls, data: Any) -> Any:
        """A field not given is read from ``AMPLITUDE_<FIELD>`` (any case), as
        pydantic-settings did — without its import, a tenth of a second of every start-up."""
        if not isinstance(data, dict):
            return data
        env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
        if not env:
            return data
        out = dict(data)
        for name in cls.model_fields:
            value = env.get(ENV_PREFIX + name.upper())
            if name not in out and value is not None:
                out[name] = value
        return out

    @field_validator("region", mode="before")
    @classmethod
    def _lower_region(cls, value: object) -> object:
        return value.lower().strip() if isinstance(value, str) else value

    @field_validator("base_url", "ingest_url", "analytics_url", "profile_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        remember_url_password(value)  # masked wherever a message quotes it, or a piece of it
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 -- read to check: a bad port or IPv6 literal raises here
        except ValueError as exc:
            raise ValueError(f"is not a valid URL ({exc})") from None
        if not parts.hostname:
            raise ValueError("names no host")
        return value.rstrip("/")

    def base_for(self, family: Family) -> str:
        """Base URL of an API family, honouring the overrides."""
        override = {
            "ingest": self.ingest_url,
            "analytics": self.analytics_url,
            "profile": self.profile_url,
        }[family]
        url = override or self.base_url or HOSTS[self.region][family]
        if url is None:
            raise ConfigError(f"the {family} API is not available in region {self.region!r}")
        return url

    def require_api_key(self) -> str:
        if self.api_key is None or not self.api_key.get_secret_value():
            raise ConfigError(
                "no API key: pass api_key=... or set AMPLITUDE_API_KEY "
                "(Amplitude → Settings → Projects → your project → General)"
            )
        return self.api_key.get_secret_value()

    def require_secret_key(self) -> str:
        if self.secret_key is None or not self.secret_key.get_secret_value():
            raise ConfigError("no secret key: pass secret_key=... or set AMPLITUDE_SECRET_KEY")
        return self.secret_key.get_secret_value()

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for redaction."""
        return tuple(
            s.get_secret_value()
            for s in (self.api_key, self.secret_key)
            if s is not None and s.get_secret_value()
        )


def load_settings(**overrides: object) -> Settings:
    """Settings from env vars, with the given (non-None) arguments taking precedence."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        raise ConfigError(_settings_message(exc)) from None


def _settings_message(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for err in errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {str(err.get('msg')).removeprefix('Value error, ')}")
        return "invalid settings — " + "; ".join(parts)
    return "invalid settings"
