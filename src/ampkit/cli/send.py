"""``ampkit track``, ``ampkit identify``, ``ampkit group-identify``: send from the terminal."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape

from ampkit.cli.app import app, console, fail, show_wait
from ampkit.cli.common import (
    ApiKeyOpt,
    BaseUrlOpt,
    RegionOpt,
    json_objects,
    make_client,
    parse_pairs,
    print_json,
    read_json_source,
)
from ampkit.client import Amplitude
from ampkit.errors import AmplitudeError
from ampkit.ingest.batching import DeliveryReport, Failure
from ampkit.ingest.identify import Identify

_CHUNK = 1000


HELD_BACK = "held back by a rate limit (HTTP 429) past the wait budget; not delivered"


def _deliver(amp: Amplitude, events: Any) -> list[DeliveryReport]:
    """``amp.send(events)``, then the events a 429 held back sent again once their wait is
    over (each wait shown), within the retry policy's ``max_rate_limit_wait`` and
    ``max_attempts``: a one-shot
    command cannot leave them queued for later, as a long-lived client would."""
    reports = [amp.send(events)]
    waited = 0.0
    for _ in range(amp.retry.max_attempts):
        held = reports[-1].deferred
        if not held:
            break
        delay = max(0.0, max(wait for _, wait in held))
        if waited + delay > amp.retry.max_rate_limit_wait:
            break
        show_wait(f"a rate limit (HTTP 429) held {len(held)} events back", delay)
        time.sleep(delay)
        waited += delay
        reports.append(amp.send([queued.event() for queued, _ in held]))
    left = reports[-1].deferred
    if left:  # reported as failed: the command ends, nothing will send them
        reports.append(DeliveryReport(failed=[Failure([q for q, _ in left], HELD_BACK, 429)]))
    return reports


def _report(reports: list[DeliveryReport], as_json: bool) -> None:
    delivered = sum(len(r.delivered) for r in reports)
    failed = [(len(f.events), f.reason) for r in reports for f in r.failed]
    if as_json:
        print_json({"delivered": delivered, "failed": sum(n for n, _ in failed),
                    "reasons": sorted({reason for _, reason in failed}),
                    "requests": sum(r.requests for r in reports)})
    else:
        console.print(f"delivered {delivered} events"
                      + (f", {sum(n for n, _ in failed)} failed" if failed else ""))
        for n, reason in failed[:10]:
            console.print(f"  [red]{n} failed[/]: {escape(reason)}")
    if failed:
        raise typer.Exit(1)


@app.command()
def track(
    event_type: Annotated[str | None, typer.Option("--event-type", "-e",
                                                   help="Event type (one event from flags).")
                          ] = None,
    user_id: Annotated[str | None, typer.Option(help="User id.")] = None,
    device_id: Annotated[str | None, typer.Option(help="Device id.")] = None,
    prop: Annotated[list[str] | None, typer.Option(
        "--prop", "-p", help="Event property key=value (JSON values allowed); repeatable.")
                    ] = None,
    user_prop: Annotated[list[str] | None, typer.Option(
        "--user-prop", help="User property to $set, key=value; repeatable.")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="JSON file (object or array of events), or - for stdin (JSON "
        "lines, or one JSON array).")] = None,
    events: Annotated[str | None, typer.Option(
        "--events", help="The events as a JSON array (or one JSON object), as the HTTP API's "
        "events parameter is written.", show_default=False)] = None,
    batch: Annotated[bool, typer.Option("--batch", help="Use the Batch API.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    api_key: str | None = ApiKeyOpt,
    base_url: str | None = BaseUrlOpt,
    region: str | None = RegionOpt,
) -> None:
    """Send events now: one from flags, or many from a JSON file or stdin JSON lines."""
    if sum(given is not None for given in (event_type, file, events)) > 1:
        fail("give one of --event-type (one event), --events (a JSON array) or --file")
    if event_type is None and file is None and events is None and sys.stdin.isatty():
        fail("nothing to send: pass --event-type, --events JSON, --file FILE, or pipe JSON "
             "lines on stdin")
    listed = None if events is None else json_objects(events, "--events")
    amp = make_client(api_key, None, base_url, region)
    if batch:
        amp.sender_options = amp.sender_options.model_copy(update={"use_batch": True})
    reports: list[DeliveryReport] = []
    try:
        if event_type is not None:
            event: dict[str, Any] = {"event_type": event_type, "user_id": user_id,
                                     "device_id": device_id,
                                     "event_properties": parse_pairs(prop, "--prop") or None}
            if user_prop:
                event["user_properties"] = {"$set": parse_pairs(user_prop, "--user-prop")}
            reports += _deliver(amp, {k: v for k, v in event.items() if v is not None})
        else:
            # all of the input read and every event checked (and given its insert_id) before
            # the first is sent: a bad line 1,501 sends nothing, rather than the first 1,000
            items = list(read_json_source(file)) if listed is None else listed
            if not items:
                source = ("--events" if listed is not None else
                          "stdin" if file is None or str(file) == "-" else str(file))
                fail(f"nothing to send: {source} held no events")
            payloads = amp._encode(items)
            for start in range(0, len(payloads), _CHUNK):
                reports += _deliver(amp, [orjson.loads(p)
                                          for p in payloads[start:start + _CHUNK]])
    except AmplitudeError as exc:
        done = sum(len(r.delivered) for r in reports)
        fail(str(exc) + (f" ({done} events before it were delivered)" if done else ""))
    finally:
        amp.close()
    _report(reports, as_json)


def _ops(set_: list[str] | None, set_once: list[str] | None, add: list[str] | None,
         append: list[str] | None, unset: list[str] | None) -> Identify:
    ops = Identify()
    for key, value in parse_pairs(set_, "--set").items():
        ops.set(key, value)
    for key, value in parse_pairs(set_once, "--set-once").items():
        ops.set_once(key, value)
    for key, value in parse_pairs(add, "--add").items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            fail(f"--add {key}: needs a number, got {value!r}")
        ops.add(key, value)
    for key, value in parse_pairs(append, "--append").items():
        ops.append(key, value)
    for key in unset or []:
        ops.unset(key)
    return ops


SetOpt = typer.Option(None, "--set", help="key=value to $set; repeatable.")
SetOnceOpt = typer.Option(None, "--set-once", help="key=value to $setOnce; repeatable.")
AddOpt = typer.Option(None, "--add", help="key=number to $add; repeatable.")
AppendOpt = typer.Option(None, "--append", help="key=value to $append; repeatable.")
UnsetOpt = typer.Option(None, "--unset", help="key to $unset; repeatable.")


@app.command()
def identify(
    user_id: Annotated[str | None, typer.Option(help="User id.")] = None,
    device_id: Annotated[str | None, typer.Option(help="Device id.")] = None,
    set_: list[str] | None = SetOpt,
    set_once: list[str] | None = SetOnceOpt,
    add: list[str] | None = AddOpt,
    append: list[str] | None = AppendOpt,
    unset: list[str] | None = UnsetOpt,
    api: Annotated[bool, typer.Option("--api", help="Call the Identify API (no event) instead "
                                      "of sending an $identify event.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    api_key: str | None = ApiKeyOpt,
    base_url: str | None = BaseUrlOpt,
    region: str | None = RegionOpt,
) -> None:
    """Apply user property operations ($set, $setOnce, $add, $append, $unset) to a user."""
    if not user_id and not device_id:
        fail("--user-id or --device-id is required")
    ops = _ops(set_, set_once, add, append, unset)
    if not ops.operations():
        fail("no operation: pass --set, --set-once, --add, --append or --unset")
    amp = make_client(api_key, None, base_url, region)
    try:
        if api:
            ident: dict[str, Any] = {"user_properties": ops.operations()}
            ident.update({k: v for k, v in (("user_id", user_id), ("device_id", device_id))
                          if v})
            amp.identify_api([ident])
            if as_json:
                print_json({"ok": True})
            else:
                console.print("identified (Identify API)")
            return
        reports = _deliver(amp, amp._identify_event(ops, user_id, device_id, {}))
    except AmplitudeError as exc:
        fail(str(exc))
    finally:
        amp.close()
    _report(reports, as_json)


@app.command("group-identify")
def group_identify(
    group_type: Annotated[str, typer.Option(help="Group type, e.g. 'org id'.")],
    group_value: Annotated[str, typer.Option(help="Group value, e.g. 'org-42'.")],
    set_: list[str] | None = SetOpt,
    set_once: list[str] | None = SetOnceOpt,
    add: list[str] | None = AddOpt,
    append: list[str] | None = AppendOpt,
    unset: list[str] | None = UnsetOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    api_key: str | None = ApiKeyOpt,
    base_url: str | None = BaseUrlOpt,
    region: str | None = RegionOpt,
) -> None:
    """Set group properties through the Group Identify API."""
    ops = _ops(set_, set_once, add, append, unset)
    if not ops.operations():
        fail("no operation: pass --set, --set-once, --add, --append or --unset")
    amp = make_client(api_key, None, base_url, region)
    try:
        amp.group_identify_api([{"group_type": group_type, "group_value": group_value,
                                 "group_properties": ops.operations()}])
    except AmplitudeError as exc:
        fail(str(exc))
    finally:
        amp.close()
    if as_json:
        print_json({"ok": True})
    else:
        console.print(f"group {group_type}={group_value} updated")
