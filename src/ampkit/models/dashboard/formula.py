"""Segmentation formulas (``m=formula&formula=UNIQUES(A)/UNIQUES(B)``), parsed without eval:
the client checks a formula before sending it, the local server computes its tree.

Grammar: ``+ - * /``, unary minus, parentheses, numbers and function calls on an event letter
(``A`` = ``e``, ``B`` = ``e2``).  Functions (case-insensitive):
``UNIQUES``, ``TOTALS``, ``AVERAGE`` (totals per user), ``PROPSUM``, ``PROPAVG``, ``PROPMIN``,
``PROPMAX``, ``PROPCOUNT`` (the ``PROP*`` ones read the event's measured property: its first
``group_by`` of type ``event``).

Bounded so a formula can't exhaust the parser's stack: at most :data:`MAX_DEPTH` levels of
parentheses and unary minus, at most :data:`MAX_TERMS` operands (numbers and function calls),
numbers finite.  Past a bound, or on a formula that does not parse, :func:`parse` raises
:class:`FormulaError` (the query model's rule on ``formula``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

FUNCTIONS = ("UNIQUES", "TOTALS", "AVERAGE", "PROPSUM", "PROPAVG", "PROPMIN", "PROPMAX",
             "PROPCOUNT")
PROPERTY_FUNCTIONS = frozenset(f for f in FUNCTIONS if f.startswith("PROP"))
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|([A-Za-z_]\w*)|(.))")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_NAME = re.compile(r"[A-Za-z_]\w*")
MAX_DEPTH = 32
"""Deepest nesting of parentheses and unary minus."""
MAX_TERMS = 100
"""Most operands (numbers and function calls) in one formula."""


class FormulaError(ValueError):
    """A formula that does not parse, or breaks a bound."""


@dataclass(frozen=True)
class Call:
    function: str
    event: int


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Node
    right: Node


Node = Call | Num | Neg | BinOp


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            break
        out.append(match.group(1) or match.group(2) or match.group(3))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str, events: int) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.events = events
        self.depth = 0
        self.terms = 0

    def fail(self, why: str) -> FormulaError:
        return FormulaError(why)

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end of formula")
        if expected is not None and token != expected:
            raise self.fail(f"expected {expected!r}, found {token!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()!r}")
        return node

    def expr(self) -> Node:
        return self.binary(("+", "-"), self.term)

    def term(self) -> Node:
        return self.binary(("*", "/"), self.factor)

    def binary(self, ops: tuple[str, str], operand: Callable[[], Node]) -> Node:
        """Operands joined by ``ops``, left to right (one precedence level)."""
        node = operand()
        while self.peek() in ops:
            op = self.take()
            node = BinOp(op, node, operand())
        return node

    def nested(self, parse: Callable[[], Node]) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} deep (parentheses and unary minus)")
        node = parse()
        self.depth -= 1
        return node

    def operand(self) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.fail(f"more than {MAX_TERMS} terms (numbers and function calls)")

    def factor(self) -> Node:
        item = self.take()
        if item == "-":
            return Neg(self.nested(self.factor))
        if item == "(":
            node = self.nested(self.expr)
            self.take(")")
            return node
        if _NUMBER.fullmatch(item):
            self.operand()
            value = float(item)
            if not math.isfinite(value):
                raise self.fail(f"number {item[:20]}… is too large")
            return Num(value)
        if not _NAME.fullmatch(item):
            raise self.fail(f"unexpected {item!r}")
        self.operand()
        name = item.upper()
        if name not in FUNCTIONS:
            raise self.fail(f"unknown function {item!r}; known: {', '.join(FUNCTIONS)}")
        self.take("(")
        letter = self.take().upper()
        if len(letter) != 1 or not "A" <= letter <= "Z":
            raise self.fail(f"{name} takes an event letter (A = e, B = e2, …)")
        event = ord(letter) - ord("A")
        if event >= self.events:
            known = "pass e2" if event == 1 else "A = e, B = e2"
            raise self.fail(f"event {letter} is not defined ({known})")
        self.take(")")
        return Call(name, event)


def parse(text: str, events: int) -> Node:
    """The tree of ``text`` over ``events`` event letters (:class:`FormulaError`)."""
    return _Parser(text, events).parse()


def calls(node: Node) -> list[Call]:
    """Every function call of the tree, left to right."""
    if isinstance(node, Call):
        return [node]
    if isinstance(node, Neg):
        return calls(node.operand)
    if isinstance(node, BinOp):
        return calls(node.left) + calls(node.right)
    return []
