"""Running actions: validate the input, call the function, turn every failure into
``success=False`` — nothing here ever raises.

:func:`run_action` is the one-shot entry point (a client per call, settings from the
environment); :class:`ActionRunner` keeps one client for many calls (the MCP server uses one
per process, so Amplitude's concurrency limits and query-cost budgets hold across calls).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from ampkit.actions.base import ActionOutput
from ampkit.actions.errors import describe, input_message, safe
from ampkit.actions.registry import REGISTRY, Action, ActionRegistry
from ampkit.client import Amplitude
from ampkit.config import Settings, load_settings
from ampkit.core.policy import RetryPolicy
from ampkit.core.transport import WaitCallback
from ampkit.errors import redact_json

log = logging.getLogger("ampkit.actions")

Out = TypeVar("Out", bound=ActionOutput)

ACTION_RETRY = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0, max_total=20.0,
                           max_rate_limit_wait=60.0)
"""Actions answer someone waiting: a few quick retries and at most a minute on a rate limit,
then a clear error (``ampkit query`` passes a policy that waits out the 5-minute window)."""

_SECRET_ENV = ("AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY")


class ActionRunner:
    """Runs registered actions with one client, made on first use from ``settings`` (or the
    ``AMPLITUDE_*`` environment) unless one is given.  Safe to share between threads."""

    def __init__(
        self,
        *,
        client: Amplitude | None = None,
        settings: Settings | None = None,
        registry: ActionRegistry = REGISTRY,
        retry: RetryPolicy | None = None,
        on_wait: WaitCallback | None = None,
    ) -> None:
        self.registry = registry
        self._client = client
        self._owns_client = client is None
        self._settings = settings
        self._retry = retry or ACTION_RETRY
        self._on_wait = on_wait
        self._lock = threading.Lock()

    def __enter__(self) -> ActionRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def client(self) -> Amplitude:
        """The client (made now if needed; raises ``ConfigError`` without an API key)."""
        with self._lock:
            if self._client is None:
                settings = self._settings or load_settings()
                self._client = Amplitude(settings=settings, retry=self._retry,
                                         on_wait=self._on_wait)
            return self._client

    def _secrets(self) -> tuple[str, ...]:
        found = {os.environ.get(name, "") for name in _SECRET_ENV}
        for settings in (self._settings, self._client.settings if self._client else None):
            if settings is not None:
                found.update(settings.secrets())
        return tuple(s for s in found if len(s) >= 4)

    def _where(self) -> tuple[str | None, float | None]:
        settings = self._client.settings if self._client else self._settings
        return (settings.base_url, settings.timeout) if settings else (None, None)

    def run(self, name: str, arguments: Mapping[str, Any] | None = None) -> ActionOutput:
        """Run the action called ``name``; an unknown name is a ``success=False`` output."""
        action = self.registry.get(name)
        if action is None:
            known = ", ".join(self.registry.names())
            return ActionOutput(success=False, error=f"unknown action {name!r}; known: {known}")
        result: ActionOutput = self.call(action, arguments)
        return result

    def call(self, action: Action[Any, Out], arguments: Mapping[str, Any] | None = None) -> Out:
        """Validate ``arguments`` against the action's input model and run it."""
        try:
            args = action.input_model.model_validate(dict(arguments or {}))
        except (ValidationError, TypeError, ValueError) as exc:
            message = (input_message(exc) if isinstance(exc, ValidationError)
                       else f"invalid input: arguments must be an object ({exc})")
            return action.failure(safe(message, self._secrets()))
        try:
            out: Out = action.fn(self.client(), args)
        except Exception as exc:  # the one place where errors become success=false
            base_url, timeout = self._where()
            message, code = describe(exc, base_url=base_url, timeout=timeout)
            log.debug("action %s failed: %s", action.name, type(exc).__name__)
            return action.failure(safe(message, self._secrets()), code)
        return self._clean(out)

    def _clean(self, out: Out) -> Out:
        """The output with any secret it might echo removed."""
        secrets = self._secrets()
        if not secrets:
            return out
        text = out.model_dump_json()
        if not any(s in text for s in secrets):
            return out
        data = redact_json(orjson.loads(text), secrets)
        return type(out).model_validate(data)

    def close(self) -> None:
        """Close the client if this runner made it (never raises)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._owns_client:
            try:
                client.close(timeout=5)
            except Exception:  # closing must not turn a result into an error
                log.debug("closing the client failed", exc_info=True)


def run_action(
    name: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    client: Amplitude | None = None,
    settings: Settings | None = None,
    retry: RetryPolicy | None = None,
    on_wait: WaitCallback | None = None,
) -> ActionOutput:
    """Run one action and return its output; never raises (``retry`` and ``on_wait`` apply to
    the client made here when none is given).

    >>> out = run_action("list_events")            # doctest: +SKIP
    >>> out.success, out.error                       # doctest: +SKIP
    (False, 'configuration: no API key: ...')
    """
    with ActionRunner(client=client, settings=settings, retry=retry, on_wait=on_wait) as runner:
        return runner.run(name, arguments)
