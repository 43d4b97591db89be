"""``ampkit request METHOD PATH``: any API call, with ampkit's auth, retries and limits."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import orjson
import typer

from ampkit.cli.app import app, fail
from ampkit.cli.common import (
    ApiKeyOpt,
    BaseUrlOpt,
    RegionOpt,
    SecretOpt,
    make_client,
    parse_pairs,
    print_json,
)
from ampkit.config import Family
from ampkit.errors import AmplitudeError


@app.command()
def request(
    method: Annotated[str, typer.Argument(help="GET, POST, PUT, DELETE…")],
    path: Annotated[str, typer.Argument(
        help="e.g. /api/2/events/list, or an Amplitude URL such as "
        "https://amplitude.com/api/2/realtime (its host gives --family; the request goes to "
        "the configured host).")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="Query parameter key=value; repeatable.")] = None,
    header: Annotated[list[str] | None, typer.Option(
        "--header", "-H", help="Extra header 'Name: value'; repeatable (auth comes from the "
        "keys).")] = None,
    body: Annotated[str | None, typer.Option("--body", help="JSON body.")] = None,
    family: Annotated[str | None, typer.Option(
        help="analytics (Basic auth), profile (Api-Key) or ingest (api_key in the body); "
        "default: the URL's host, else analytics.", show_default=False)] = None,
    api_key: str | None = ApiKeyOpt,
    secret_key: str | None = SecretOpt,
    base_url: str | None = BaseUrlOpt,
    region: str | None = RegionOpt,
) -> None:
    """Send a raw request and print the answer (JSON pretty-printed, else text)."""
    if family not in (None, "analytics", "profile", "ingest"):
        fail("--family must be analytics, profile or ingest")
    fam: Family | None = family  # type: ignore[assignment]
    headers: dict[str, str] = {}
    for item in header or []:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            fail("--header: expected 'Name: value' (a name, a colon, the value)")
        headers[name.strip()] = value.strip()
    payload: Any = None
    if body is not None:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            fail(f"--body is not JSON: {exc}")
    params = {k: v if isinstance(v, str) else orjson.dumps(v).decode()
              for k, v in parse_pairs(param, "--param").items()}
    amp = make_client(api_key, secret_key, base_url, region)
    try:
        answer = amp.request(method, path, params=params or None, json=payload, family=fam,
                             headers=headers or None)
    except AmplitudeError as exc:
        fail(str(exc))
    finally:
        amp.close()
    if answer.data is not None:
        print_json(answer.data)
    elif answer.binary:  # an Export ZIP: its bytes as they came, never decoded as text
        if sys.stdout.isatty():
            kind = answer.headers.get("content-type", "no content type")
            fail(f"the answer is {len(answer.raw.content):,} bytes of binary data ({kind}): send "
                 "it to a file (> answer.zip)")
        sys.stdout.flush()
        sys.stdout.buffer.write(answer.raw.content)
        sys.stdout.buffer.flush()
    else:
        typer.echo(answer.text)
