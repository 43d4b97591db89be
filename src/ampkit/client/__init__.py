"""The two entry points: :class:`Amplitude` (sync) and :class:`AsyncAmplitude` (async).

Both expose the same methods with the same signatures (a test checks it); the sync one sends
from a background thread, the async one from an asyncio task.  The query methods (Dashboard
REST, user search/activity, charts, annotations, cohorts, taxonomy, User Profile, raw requests)
and the ingestion methods are written once, as flows (:mod:`ampkit.client.flows`,
:mod:`ampkit.client.base`), and made into both clients' methods by ``python -m tools.codegen``
(``_generated.py``).
"""

from __future__ import annotations

from ampkit.client.aexports import AsyncExports
from ampkit.client.base import Operations, TrackedEvent
from ampkit.client.exports import SyncExports
from ampkit.client.queries import AsyncQueries, SyncQueries


class Amplitude(SyncQueries, SyncExports):
    """Sync client.  Events are validated at once and sent from a background thread.

    >>> amp = Amplitude("API_KEY", base_url="http://127.0.0.1:8787")   # doctest: +SKIP
    >>> amp.track({"event_type": "Signed Up", "user_id": "user-42"})   # doctest: +SKIP
    >>> amp.close()                                                     # doctest: +SKIP
    """


class AsyncAmplitude(AsyncQueries, AsyncExports):
    """Async client: the same methods as :class:`Amplitude`, awaited.

    >>> async with AsyncAmplitude("API_KEY") as amp:           # doctest: +SKIP
    ...     await amp.track({"event_type": "Opened", "device_id": "device-1"})
    """


__all__ = ["Amplitude", "AsyncAmplitude", "Operations", "TrackedEvent"]
