"""Write ``src/ampkit/client/_generated.py``: the sync and async query methods of the client.

Two sources, nothing else:

- each call of each :data:`ampkit.models.endpoints.DEFS` definition — its arguments are the
  query model's fields (their annotations widened to what a caller may pass: an event name for an
  :class:`EventDef`, ``"weekly"`` for an interval…), minus the values the call fixes;
- each ``_<name>_flow`` method of :class:`ampkit.client.flows.QueryFlows` — same signature and
  docstring.

The sync method runs the flow (``self._run(...)``), the async one awaits it.  Nothing in the
generated file is written by hand, so the two clients cannot drift apart.

    .venv/bin/python -m tools.codegen           # write the file
    .venv/bin/python -m tools.codegen --check   # exit 1 if the file is not what it would write
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ampkit import config
from ampkit.client import base, flows
from ampkit.dashboard import custom
from ampkit.models import dashboard as dashboard_models
from ampkit.models import profile
from ampkit.models.dashboard import common
from ampkit.models.endpoints import DEFS_LIST, Call, EndpointDef

TARGET = Path(__file__).resolve().parent.parent / "src" / "ampkit" / "client" / "_generated.py"

# what a caller may pass where the model holds the validated form
WIDEN: tuple[tuple[str, str], ...] = (
    (r"\blist\[EventDef\]", "Sequence[EventLike]"),
    (r"\bEventDef\b", "EventLike"),
    (r"\bSegments\b", "SegmentArg | None"),  # one segment (the server reads several)
    (r"\bSegment\b", "SegmentArg"),
    (r"\bdt\.date\b", "DateLike"),
    (r"\bCoarseBuckets\b", "CoarseArg"),  # the shared parameter aliases of common.py
    (r"\bBuckets\b", "IntervalArg"),
    (r"\bGroupByProperty\b", "str | None"),
    (r"\bGroupLimit\b", "int | None"),
    (r"\bCoarseInterval\b", "CoarseArg"),
    (r"\bInterval\b", "IntervalArg"),
    (r"\bRevenueMetric\b", "RevenueMetric | str"),
    (r"\blist\[tuple\[(?:int|Bound), (?:int|Bound)\]\]", "Sequence[tuple[int, int]]"),
)
KNOWN = {"Any": "typing", "Sequence": "collections.abc", "Mapping": "collections.abc",
         "Iterable": "collections.abc", "Literal": "typing", "dt": None}
BUILTIN = {"str", "int", "float", "bool", "None", "list", "tuple", "dict"}


def raw_annotation(model: type[BaseModel], name: str) -> str:
    """A field's annotation as written in its class (``Annotated`` metadata dropped)."""
    for cls in model.__mro__:
        text = getattr(cls, "__annotations__", {}).get(name)
        if isinstance(text, str):
            break
    else:
        raise LookupError(f"{model.__name__}.{name} has no written annotation")
    if text.startswith("Annotated["):
        depth, start = 0, len("Annotated[")
        for i, ch in enumerate(text[start:], start):
            depth += ch in "[("
            depth -= ch in "])"
            if ch == "," and depth == 0:
                return text[start:i].strip()
    return text


def widen(annotation: str) -> str:
    for pattern, replacement in WIDEN:
        annotation = re.sub(pattern, replacement, annotation)
    return annotation


# Flows whose whole work is one effect of the client's own sender, called directly: ``track``
# runs once per event, and driving a flow would cost it more than validating the event.  The
# flow stays the declaration (signature, docstring) and what the other ingestion flows build on.
DIRECT = {"_track_flow": "self._sender.enqueue(self._encode(events))"}


class Method:
    """One generated method: its signature, docstring and the flow it runs (or, for the
    :data:`DIRECT` ones, the sender call it makes)."""

    def __init__(self, name: str, params: list[str], returns: str, doc: str, flow: str,
                 direct: str | None = None) -> None:
        self.name, self.params, self.returns, self.doc, self.flow, self.direct = (
            name, params, returns, doc, flow, direct)

    def render(self, asynchronous: bool) -> str:
        head = f"    {'async ' if asynchronous else ''}def {self.name}("
        args = ", ".join(["self", *self.params])
        lines = _wrap(head, args, f") -> {self.returns}:")
        run = "await self._run" if asynchronous else "self._run"
        body = f"        return {run}({self.flow})"
        if self.direct is not None:
            body = f"        return {'await ' if asynchronous else ''}{self.direct}"
        if len(body) > 100:
            body = f"        return {run}(\n            {self.flow})"
        return "\n".join([*lines, f'        """{self.doc}"""', body])


def _wrap(head: str, args: str, tail: str) -> list[str]:
    one_line = head + args + tail
    if len(one_line) <= 100:
        return [one_line]
    out, line = [], head
    for part in [a.strip() for a in _split_args(args)]:
        piece = part + ", "
        if len(line) + len(piece) > 99:
            out.append(line.rstrip())
            line = " " * 8 + piece
        else:
            line += piece
    out.append(line.rstrip().rstrip(",") + tail)
    return out


def _split_args(args: str) -> Iterator[str]:
    depth, start = 0, 0
    for i, ch in enumerate(args):
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth == 0:
            yield args[start:i]
            start = i + 1
    yield args[start:]


def _default(value: Any) -> str:
    """A default as source text (strings in double quotes, as the rest of the code base)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def endpoint_methods(definition: EndpointDef, call: Call) -> Method:
    model = definition.query
    fields = [n for n in model.model_fields if n not in call.fixed]
    positional = list(call.positional)
    params: list[str] = []
    for name in positional:
        params.append(f"{name}: {widen(raw_annotation(model, name))}")
    keyword = [n for n in fields if n not in positional]
    if keyword:
        params.append("*")
    for name in keyword:
        info = model.model_fields[name]
        annotation = widen(raw_annotation(model, name))
        if info.default is PydanticUndefined and info.default_factory is None:
            params.append(f"{name}: {annotation}")
        else:
            default = None if info.default is PydanticUndefined else info.default
            params.append(f"{name}: {annotation} = {_default(default)}")
    entries = [f'"{n}": {n}' for n in fields]
    entries += [f'"{k}": {_default(v)}' for k, v in call.fixed.items()]
    doc = f"{call.summary or definition.summary} (``{definition.method} {definition.path}``)."
    result = definition.result.__name__
    flow = (f'self._endpoint_flow(DEFS["{definition.name}"], {result}, '
            f'{{{", ".join(entries)}}})')
    return Method(call.name, params, result, doc, flow)


def flow_methods() -> Iterator[Method]:
    for name, fn in inspect.getmembers(base.ClientBase, inspect.isfunction):
        if not name.endswith("_flow") or not name.startswith("_") or name.startswith("__") \
                or name == "_endpoint_flow":
            continue
        sig = inspect.signature(fn)
        params: list[str] = []
        call_args: list[str] = []
        star = False
        for p in list(sig.parameters.values())[1:]:
            if p.kind is p.VAR_KEYWORD:
                params.append(f"**{p.name}: {p.annotation}")
                call_args.append(f"**{p.name}")
                continue
            if p.kind is p.KEYWORD_ONLY and not star:
                params.append("*")
                star = True
            text = f"{p.name}: {p.annotation}"
            if p.default is not p.empty:
                text += f" = {_default(p.default)}"
            params.append(text)
            call_args.append(p.name if p.kind is p.POSITIONAL_OR_KEYWORD
                             else f"{p.name}={p.name}")
        returns = str(sig.return_annotation)
        match = re.fullmatch(r"Flow\[(.+)\]", returns)
        if match is None:
            raise ValueError(f"{name} must return Flow[...]")
        doc = (inspect.getdoc(fn) or "").strip().replace('"""', "'''")
        yield Method(name[1:].removesuffix("_flow"), params, match.group(1), doc,
                     f"self.{name}({', '.join(call_args)})", DIRECT.get(name))


def _names(text: str) -> set[str]:
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "", text)  # Literal values are not names
    return set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*[=:])", text))


def imports(methods: list[Method]) -> list[str]:
    """``from … import …`` lines for every name the signatures use."""
    wanted: set[str] = set()
    for m in methods:
        for p in m.params:
            if ":" in p:
                wanted |= _names(p.split(":", 1)[1].split("=", 1)[0])
        wanted |= _names(m.returns)
    wanted -= BUILTIN
    sources: list[dict[str, Any]] = [vars(dashboard_models), vars(common), vars(profile),
                                     vars(config), vars(custom)]
    for definition in DEFS_LIST:
        sources.append(vars(sys.modules[definition.query.__module__]))
        sources.append(vars(sys.modules[definition.result.__module__]))
    sources.append(vars(flows))  # last: what only the flows modules define
    sources.append(vars(base))
    by_module: dict[str, set[str]] = {}
    plain: set[str] = set()
    for name in sorted(wanted):
        if name in KNOWN:
            module = KNOWN[name]
            if module is None:
                plain.add("import datetime as dt")
            else:
                by_module.setdefault(module, set()).add(name)
            continue
        for source in sources:
            obj = source.get(name)
            if obj is not None:
                home = getattr(obj, "__module__", None)
                module = home if isinstance(home, str) and home.startswith("ampkit") and \
                    name in vars(sys.modules[home]) else source["__name__"]
                by_module.setdefault(module, set()).add(name)
                break
        else:
            raise LookupError(f"no module found for {name!r}")
    for module, names in (("ampkit.client.base", {"AsyncClient", "SyncClient"}),
                          ("ampkit.models.endpoints", {"DEFS"})):
        by_module.setdefault(module, set()).update(names)
    stdlib = sorted(m for m in by_module if not m.startswith("ampkit"))
    ours = sorted(m for m in by_module if m.startswith("ampkit"))
    lines = sorted(plain)
    lines += [_import(m, by_module[m]) for m in stdlib]
    lines.append("")
    lines += [_import(m, by_module[m]) for m in ours]
    return lines


def _import(module: str, names: set[str]) -> str:
    """One import, wrapped the way ruff's isort does past 100 characters."""
    ordered = sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    line = f"from {module} import {', '.join(ordered)}"
    if len(line) <= 100:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in ordered) + ")"


HEADER = '''"""The client's query methods, sync and async — GENERATED by
``python -m tools.codegen`` from :data:`ampkit.models.endpoints.DEFS` and
:class:`ampkit.client.flows.QueryFlows`.  Do not edit: change the definition or the flow and
regenerate (CI fails when this file is stale)."""

# ruff: noqa: E501
from __future__ import annotations

'''

RUNNERS = '''

class SyncMethods(SyncClient):
    """The methods of :class:`~ampkit.client.Amplitude` (a background thread sends)."""

{sync}


class AsyncMethods(AsyncClient):
    """The methods of :class:`~ampkit.client.AsyncAmplitude` (an asyncio task sends)."""

{asynchronous}
'''


def render() -> str:
    methods = [endpoint_methods(d, c) for d in DEFS_LIST for c in d.calls]
    methods += list(flow_methods())
    methods.sort(key=lambda m: m.name)
    lines = imports(methods)
    body = RUNNERS.format(sync="\n\n".join(m.render(False) for m in methods),
                          asynchronous="\n\n".join(m.render(True) for m in methods))
    return HEADER + "\n".join(lines) + "\n" + body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the generated file is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is stale: run python -m tools.codegen", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
