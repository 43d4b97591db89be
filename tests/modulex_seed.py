"""ModuleX's 11 actions, read from the seed document (``fixtures/seeds/001_be5a4dfab0131f3b.txt``).

The document lists each action as a ``Parameters`` block (name, JSON type, ``required`` or not,
a description; two actions have none) followed by a ``Response`` block holding the JSON schema
of its output, whose ``title`` names the action (``SendEventOutput`` → ``send_event``).
:func:`read_seed` parses it; ``fixtures/seeds/modulex_actions.json`` is what it gives, kept in the
repository (``python -m tests.modulex_seed`` writes it; a test checks that they agree).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "seeds"
SEED = FIXTURES / "001_be5a4dfab0131f3b.txt"
CONTRACT = FIXTURES / "modulex_actions.json"
TYPES = ("string", "integer", "number", "boolean", "object", "array")
NOTE = ("ModuleX's 11 Amplitude actions: each one's parameters (name, JSON type, required, "
        "description) and its output JSON schema, extracted verbatim from the seed document "
        "001_be5a4dfab0131f3b.txt (ModuleX's Amplitude integration page) by tests/modulex_seed.py "
        "(python -m tests.modulex_seed rewrites this file; "
        "tests/mcp/test_modulex_contract.py checks it still matches the seed).")


def _snake(title: str) -> str:
    name = title.removesuffix("Output")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _params(lines: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(lines):
        name, kind = lines[i], lines[i + 1]
        if kind not in TYPES:
            raise ValueError(f"parameter {name!r}: unknown type {kind!r}")
        required = lines[i + 2] == "required"
        i += 3 if required else 2
        out.append({"name": name, "type": kind, "required": required,
                    "description": lines[i]})
        i += 1
    return out


def read_seed(text: str | None = None) -> dict[str, Any]:
    """``{"note", "actions": [{"name", "parameters", "output_schema"}]}`` in the seed's order."""
    text = SEED.read_text() if text is None else text
    rest = text[text.index("Available Actions"):text.index("Limits & Quotas")]
    decoder = json.JSONDecoder()
    actions: list[dict[str, Any]] = []
    while "Response" in rest:
        head, _, body = rest.partition("Response")
        lines = [line.strip() for line in head.splitlines() if line.strip()]
        params = lines[lines.index("Parameters") + 1:] if "Parameters" in lines else []
        body = body.lstrip()
        schema, end = decoder.raw_decode(body)
        actions.append({"name": _snake(schema["title"]), "parameters": _params(params),
                        "output_schema": schema})
        rest = body[end:]
    return {"note": NOTE, "actions": actions}


def load() -> dict[str, Any]:
    """The contract as kept in the repository."""
    data: dict[str, Any] = json.loads(CONTRACT.read_text())
    return data


if __name__ == "__main__":
    CONTRACT.write_text(json.dumps(read_seed(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {CONTRACT}")
