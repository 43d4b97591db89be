"""``ampkit plan check`` and ``ampkit plan pull``: a tracking plan in CI, and one to start from.

``check`` validates a plan file and, given what a project sent — a running server's Taxonomy
API and bad-event bucket (``--server``), or an export file (``--export``) — reports the
planned events never seen, the events and properties the plan does not have, the events that
break it, and the bad events the server kept.  Exit status: 0 clean, 1 problems, 2 a plan or
an option that cannot be used.  ``pull`` writes a plan from a project's Taxonomy API.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import typer
from pydantic import BaseModel
from rich.markup import escape

from ampkit.cli.app import app, console, fail, show_wait
from ampkit.cli.common import ApiKeyOpt, BaseUrlOpt, RegionOpt, SecretOpt, make_client, print_json
from ampkit.client import Amplitude
from ampkit.errors import AmplitudeError, APIStatusError, ExportDecodeError
from ampkit.models.dashboard.taxonomy import TaxonomyEventProperty, TaxonomyUserProperty
from ampkit.models.plan import BadEventsPage, PlanError, TrackingPlan, load_plan, parse_plan

USAGE = 2
"""Exit status of a plan or an option that cannot be used (1 is for problems found)."""
SAMPLES = 20
EXPORT_SUFFIXES = (".zip", ".gz", ".jsonl", ".json")

plan_app = typer.Typer(
    name="plan", no_args_is_help=True, rich_markup_mode=None, add_completion=False,
    help="Check a tracking plan in CI (against a server or an export), or pull one from a "
    "project's Taxonomy API.\n\n"
    "ampkit plan check PLAN [--server URL | --export FILE] [--json]; "
    "ampkit plan pull [--out FILE] [--format yaml|json].")


# --- what a project sent -------------------------------------------------------------------
@dataclass
class Seen:
    """What a server or an export shows of a project's tracking."""

    source: str
    types: Counter[str] = field(default_factory=Counter)
    """Event type → events (a server's taxonomy gives no counts: 0)."""
    properties: dict[str, set[str]] = field(default_factory=dict)
    user_properties: set[str] = field(default_factory=set)
    violations: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(event type, path, rule) → events (an export's)."""
    bad_events: BadEventsPage | None = None
    """The server's bucket (its newest entries and how many in all)."""


class ViolationCount(BaseModel):
    event_type: str
    path: str
    rule: str
    events: int


class CheckReport(BaseModel):
    """What ``ampkit plan check --json`` prints."""

    plan: str
    summary: str
    source: str | None = None
    event_types_seen: int | None = None
    never_seen: list[str] = []
    unplanned_events: list[str] = []
    unplanned_properties: dict[str, list[str]] = {}
    """Event type (``user`` for user properties) → property names the plan lacks."""
    violations: list[ViolationCount] = []
    bad_events: int | None = None
    bad_event_samples: list[str] = []
    problems: int = 0
    ok: bool = True


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """The events of an export file: an Export API archive (``.zip``), gzip JSON lines
    (``.gz``), JSON lines (``.jsonl``) or a JSON array (``.json``)."""
    from ampkit.export import iter_records

    name = path.name.lower()
    if name.endswith(".zip"):
        yield from iter_records(path)
        return
    if name.endswith(".json") and path.read_bytes().lstrip().startswith(b"["):
        yield from (r for r in orjson.loads(path.read_bytes()) if isinstance(r, dict))
        return
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rb") as lines:
        for line in lines:
            if line.strip():
                record = orjson.loads(line)
                if isinstance(record, dict):
                    yield record


def _from_export(plan: TrackingPlan, path: Path) -> Seen:
    if not path.name.lower().endswith(EXPORT_SUFFIXES):
        fail(f"--export {path}: must be {', '.join(EXPORT_SUFFIXES)} (what ampkit export or "
             "the Export API writes)", USAGE)
    seen = Seen(str(path))
    try:
        for record in _records(path):
            _take(plan, seen, record)
    except (OSError, ExportDecodeError, orjson.JSONDecodeError, gzip.BadGzipFile) as exc:
        fail(f"--export {path}: {exc}", USAGE)
    return seen


def _take(plan: TrackingPlan, seen: Seen, record: dict[str, Any]) -> None:
    etype = record.get("event_type")
    if not isinstance(etype, str):
        return
    seen.types[etype] += 1
    props = record.get("event_properties")
    if isinstance(props, dict):
        seen.properties.setdefault(etype, set()).update(props)
    users = record.get("user_properties")
    if isinstance(users, dict):
        seen.user_properties.update(users)
    for finding in plan.check(record):
        if finding.kind == "violation":
            seen.violations[(etype, finding.path, finding.rule)] += 1


def _from_server(plan: TrackingPlan, amp: Amplitude, url: str) -> Seen:
    seen = Seen(url)
    seen.types.update({t.event_type: 0 for t in amp.taxonomy_event_types().data
                       if t.event_type})
    if plan.policy.unplanned_properties != "allow":
        for etype in sorted(set(seen.types) & set(plan.events)):
            seen.properties[etype] = {
                p.event_property for p in amp.taxonomy_event_properties(etype).data
                if p.event_property}
        if plan.user_properties is not None:
            seen.user_properties = {_user_property(p) for p in
                                    amp.taxonomy_user_properties().data if p.user_property}
    try:
        answer = amp.request("GET", "/_ampkit/bad-events", params={"limit": str(SAMPLES)})
    except APIStatusError as exc:
        if exc.status != 404:
            raise
        return seen  # not an ampkit server: no bucket to read
    seen.bad_events = BadEventsPage.model_validate(answer.data)
    return seen


def _user_property(prop: TaxonomyUserProperty) -> str:
    name = prop.user_property or ""
    return name[3:] if name.startswith("gp:") else name


# --- the comparison ------------------------------------------------------------------------
def compare(plan: TrackingPlan, plan_name: str, seen: Seen | None) -> CheckReport:
    """The report of ``plan`` against what was ``seen`` (``None``: the plan alone)."""
    report = CheckReport(plan=plan_name, summary=plan.summary())
    if seen is None:
        return report
    policy = plan.policy
    seen_types = {t for t in seen.types if not t.startswith("$")}
    report.source, report.event_types_seen = seen.source, len(seen_types)
    report.never_seen = sorted(set(plan.events) - seen_types)
    if policy.unplanned_events != "allow":
        report.unplanned_events = sorted(seen_types - set(plan.events))
    if policy.unplanned_properties != "allow":
        report.unplanned_properties = _unplanned_properties(plan, seen)
    if policy.violations != "allow":
        report.violations = [ViolationCount(event_type=t, path=p, rule=r, events=n)
                             for (t, p, r), n in seen.violations.most_common()]
    if seen.bad_events is not None:
        report.bad_events = seen.bad_events.total
        report.bad_event_samples = [b.line() for b in seen.bad_events.bad_events]
    report.problems = (len(report.never_seen) + len(report.unplanned_events)
                       + sum(map(len, report.unplanned_properties.values()))
                       + len(report.violations) + (report.bad_events or 0))
    report.ok = report.problems == 0
    return report


def _unplanned_properties(plan: TrackingPlan, seen: Seen) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for etype, names in sorted(seen.properties.items()):
        planned = plan.events.get(etype)
        if planned is not None:
            extra = sorted(n for n in names - set(planned.properties) if not n.startswith("$"))
            if extra:
                out[etype] = extra
    if plan.user_properties is not None:
        extra = sorted(seen.user_properties - set(plan.user_properties.properties))
        if extra:
            out["user"] = extra
    return out


def _show(report: CheckReport) -> None:
    console.print(f"plan [cyan]{escape(report.plan)}[/]: {report.summary}")
    if report.source is None:
        console.print("[green]✓[/] the plan is valid")
        return
    console.print(f"checked against {escape(report.source)} "
                  f"({report.event_types_seen} event types seen)")
    _problem("planned, never seen", [escape(t) for t in report.never_seen])
    _problem("unplanned events", [escape(t) for t in report.unplanned_events])
    _problem("unplanned properties", [f"{escape(t)}: {escape(', '.join(n))}"
                                      for t, n in report.unplanned_properties.items()])
    _problem("events that break the plan", [
        f"{v.events} × {escape(v.event_type)!r} {escape(v.path)}: {escape(v.rule)}"
        for v in report.violations])
    if report.bad_events:
        _problem(f"bad events kept by the server ({report.bad_events}, newest first)",
                 [escape(line) for line in report.bad_event_samples])
    if report.ok:
        console.print("[green]✓[/] every planned event was seen, and nothing seen is "
                      "unplanned or breaks the plan")
    else:
        console.print(f"[red]✗ {report.problems} problem(s)[/]")


def _problem(title: str, items: list[str]) -> None:
    if items:
        console.print(f"[red]✗[/] {title}:")
        for item in items[:SAMPLES]:
            console.print(f"    {item}", soft_wrap=True)
        if len(items) > SAMPLES:
            console.print(f"    … and {len(items) - SAMPLES} more")


def _load(file: Path) -> TrackingPlan:
    try:
        return load_plan(file)
    except PlanError as exc:
        fail(f"invalid plan: {exc}", USAGE)


@plan_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="The plan file (YAML, or JSON for .json).")],
    server: Annotated[str | None, typer.Option(
        "--server", help="A running server's URL (ampkit serve): its Taxonomy API and "
        "bad-event bucket, with the keys of AMPLITUDE_API_KEY / AMPLITUDE_SECRET_KEY.",
        show_default=False)] = None,
    export: Annotated[Path | None, typer.Option(
        "--export", help="An export file: .zip (Export API), .gz, .jsonl or .json.",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    api_key: str | None = ApiKeyOpt,
    secret_key: str | None = SecretOpt,
) -> None:
    """Validate a plan; with --server or --export, report planned events never seen,
    unplanned events and properties, events that break the plan and the server's bad events
    (exit 1 when there are any, 2 for an invalid plan)."""
    if server is not None and export is not None:
        fail("--server and --export: give one of them", USAGE)
    plan = _load(file)
    seen: Seen | None = None
    if export is not None:
        seen = _from_export(plan, export)
    elif server is not None:  # a server that cannot be read is no finding: exit 2, not 1
        try:
            amp = Amplitude(api_key, secret_key, base_url=server, on_wait=show_wait)
        except AmplitudeError as exc:
            fail(f"--server {server}: {exc}", USAGE)
        with amp:
            try:
                seen = _from_server(plan, amp, server)
            except AmplitudeError as exc:
                fail(f"--server {server}: {exc}", USAGE)
    report = compare(plan, str(file), seen)
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        _show(report)
    if not report.ok:
        raise typer.Exit(1)


# --- pull ----------------------------------------------------------------------------------
_TYPES = {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean"}


def _values(raw: list[str] | str | None) -> list[str]:
    items = raw if isinstance(raw, list) else (raw or "").split(",")
    return [v.strip() for v in items if v and v.strip()]


def property_schema(prop: TaxonomyEventProperty | TaxonomyUserProperty) -> dict[str, Any]:
    """A taxonomy property (type, enum values, regex, array-ness) as a JSON Schema."""
    value: dict[str, Any] = {}
    if prop.type in _TYPES:
        value["type"] = _TYPES[prop.type]
    if enum := _values(prop.enum_values):
        value["enum"] = enum
    if prop.regex:
        value["pattern"] = prop.regex
    schema: dict[str, Any] = {"type": "array", "items": value} if prop.is_array_type else value
    if prop.description:
        schema = {"description": prop.description, **schema}
    return schema


def pulled_plan(amp: Amplitude) -> dict[str, Any]:
    """A plan document from the project's Taxonomy API: every event type (but Amplitude's
    ``$`` ones) with its properties, and the custom user properties (``gp:``)."""
    events: dict[str, Any] = {}
    for kind in amp.taxonomy_event_types().data:
        name = kind.event_type
        if not name or name.startswith("$"):
            continue
        props = [p for p in amp.taxonomy_event_properties(name).data if p.event_property]
        event: dict[str, Any] = {"description": kind.description} if kind.description else {}
        event["properties"] = {p.event_property: property_schema(p) for p in props}
        required = [p.event_property for p in props if p.is_required]
        if required:
            event["required"] = required
        events[name] = event
    users = {_user_property(p): property_schema(p) for p in amp.taxonomy_user_properties().data
             if (p.user_property or "").startswith("gp:") and not p.deleted}
    return {"version": 1, "policy": {"unplanned_events": "flag", "unplanned_properties": "flag",
                                     "violations": "reject"},
            "events": events, "user_properties": {"properties": users}}


def _write(doc: dict[str, Any], out: Path | None, fmt: Literal["yaml", "json"]) -> None:
    if fmt == "json":
        text = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
    else:
        from ampkit._extras import require

        require("plan", "ampkit plan pull --format yaml", ("yaml",))
        import yaml

        text = ("# a tracking plan pulled from the Taxonomy API by `ampkit plan pull`\n"
                + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100))
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote [cyan]{escape(str(out))}[/]: {len(doc['events'])} event types, "
                  f"{len(doc['user_properties']['properties'])} user properties", soft_wrap=True)


@plan_app.command("pull")
def pull(
    out: Annotated[Path | None, typer.Option(
        help="Write the plan here (default: stdout).", show_default=False)] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", help="yaml or json (default: the --out suffix, else yaml).",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace --out when it exists (a plan written by hand, perhaps).")
                     ] = False,
    api_key: str | None = ApiKeyOpt,
    secret_key: str | None = SecretOpt,
    base_url: str | None = BaseUrlOpt,
    region: str | None = RegionOpt,
) -> None:
    """Build a plan from a project's Taxonomy API (its event types, event properties and
    user properties), to start a plan from what the project already has."""
    chosen = fmt or ("json" if out is not None and out.suffix.lower() == ".json" else "yaml")
    if chosen not in ("yaml", "json"):
        fail(f"--format must be yaml or json, not {chosen!r}", USAGE)
    if out is not None and out.exists() and not force:
        fail(f"--out {out} exists: pass --force to replace it", USAGE)
    with make_client(api_key, secret_key, base_url, region) as amp:
        try:
            doc = pulled_plan(amp)
        except AmplitudeError as exc:
            fail(str(exc))
    try:
        parse_plan(doc, "the pulled plan")
    except PlanError as exc:
        fail(f"{exc} (the taxonomy holds a rule JSON Schema cannot take)")
    _write(doc, out, "json" if chosen == "json" else "yaml")


app.add_typer(plan_app, name="plan")
