"""A tracking plan checked by the client before anything is queued (``Amplitude(plan=...)``).

What the plan's policy rejects raises :class:`~ampkit.errors.InvalidEventError` naming the
event's index, the field and the rule (nothing of the call is queued); what it flags is logged
as a warning on the ``ampkit.client`` logger and sent; what it allows is sent quietly.  The
server with the same plan (``ampkit serve --plan``) judges the events the same way."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ampkit.errors import ConfigError, InvalidEventError
from ampkit.models.plan import PlanError, TrackingPlan, as_plan

log = logging.getLogger("ampkit.client")

PlanLike = TrackingPlan | Mapping[str, Any] | str | Path
"""A plan file's path, its document, or a :class:`~ampkit.models.plan.TrackingPlan`."""


def client_plan(plan: PlanLike) -> TrackingPlan:
    """The plan a client was given; a plan that cannot be used is a :class:`ConfigError`
    naming its place in the file."""
    try:
        return as_plan(plan)
    except PlanError as exc:
        raise ConfigError(f"plan: {exc}") from None


def enforce(plan: TrackingPlan, events: Sequence[Mapping[str, Any]]) -> None:
    """Raise for the first event the plan rejects; warn about what it flags."""
    for index, event in enumerate(events):
        findings = plan.check(event)
        if not findings:
            continue
        judged = plan.triage(findings)
        etype = event.get("event_type")
        if judged["reject"]:
            first = judged["reject"][0]
            raise InvalidEventError(first.field or "event",
                                    f"{first.rule} (tracking plan, event {etype!r})",
                                    index=index)
        for finding in judged["flag"]:
            log.warning("event[%d] %r breaks the tracking plan (%s): %s %s", index, etype,
                        finding.kind, finding.field, finding.rule)
