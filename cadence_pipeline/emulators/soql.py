"""A strict parser and evaluator for the subset of SOQL the Salesforce emulator serves.

Supported: `SELECT field, ... FROM Object [WHERE condition] [ORDER BY field [ASC|DESC]
[NULLS FIRST|LAST]] [LIMIT n]`. Conditions combine comparisons with AND, OR, NOT and
parentheses (as in SOQL, AND and OR cannot be mixed at one level without parentheses).
Operators: = != <> < <= > >= LIKE IN NOT IN. Literals: quoted strings with backslash escapes,
numbers, true, false, null, datetime literals with `Z` or an offset, and date literals.
Anything else raises `SoqlError`, which the emulator returns as the API's 400 error, so a
query the emulator cannot honour fails loudly instead of ignoring a filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

FIELD_TYPES = ("string", "number", "boolean", "datetime", "date")


class SoqlError(ValueError):
    """An unsupported or invalid query; `error_code` is the Salesforce errorCode."""

    def __init__(self, message: str, error_code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.error_code = error_code


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "like",
    "in",
    "order",
    "by",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "limit",
    "true",
    "false",
    "null",
}

_STRING_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    value: Any = None


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            raise SoqlError(f"unexpected character {query[position]!r} at position {position}")
        position = match.end()
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "ws":
            continue
        if kind == "datetime":
            tokens.append(Token(kind, text, parse_datetime_literal(text)))
        elif kind == "date":
            tokens.append(Token(kind, text, date.fromisoformat(text)))
        elif kind == "number":
            tokens.append(Token(kind, text, float(text) if "." in text else int(text)))
        elif kind == "string":
            tokens.append(Token(kind, text, _unescape(text[1:-1])))
        elif kind == "ident" and text.lower() in _KEYWORDS:
            tokens.append(Token("keyword", text.lower()))
        else:
            tokens.append(Token(kind, text))
    return tokens


def parse_datetime_literal(text: str) -> datetime:
    if not (text.endswith("Z") or re.search(r"[+-]\d{2}:?\d{2}$", text)):
        raise SoqlError(
            f"datetime literal {text} has no time zone; write it as 2026-11-02T09:15:00Z "
            "or with an offset such as +01:00"
        )
    normalised = text[:-1] + "+00:00" if text.endswith("Z") else text
    if re.search(r"[+-]\d{4}$", normalised):
        normalised = f"{normalised[:-2]}:{normalised[-2:]}"
    return datetime.fromisoformat(normalised).astimezone(UTC)


def _unescape(body: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escaped = body[index + 1]
        if escaped in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[escaped])
        elif escaped in "%_":
            # Kept escaped: only LIKE gives these a meaning, and it reads the backslash.
            out.append("\\" + escaped)
        else:
            raise SoqlError(f"invalid escape sequence \\{escaped} in a string literal")
        index += 2
    return "".join(out)


@lru_cache(maxsize=65536)
def parse_record_datetime(value: str) -> datetime:
    """Parse a stored datetime (`2026-11-02T09:15:00.000+0000` or ISO) as a UTC instant."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"stored datetime {value!r} has no offset")
    return parsed.astimezone(UTC)


@dataclass
class Schema:
    """Field names (canonical spelling) and types of one object."""

    object_name: str
    fields: dict[str, str]  # canonical name -> type

    def __post_init__(self) -> None:
        self._by_lower = {name.lower(): name for name in self.fields}

    def resolve(self, name: str) -> str:
        canonical = self._by_lower.get(name.lower())
        if canonical is None:
            raise SoqlError(
                f"No such column '{name}' on entity '{self.object_name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the "
                "custom field name.",
                "INVALID_FIELD",
            )
        return canonical


Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass
class Query:
    object_name: str
    fields: list[str]
    where: Predicate | None
    order_by: tuple[str, bool, bool] | None  # field, descending, nulls last
    limit: int | None


def parse_query(text: str, schemas: Mapping[str, Schema]) -> Query:
    """Parse `text` against the known object schemas, raising SoqlError with the API code."""
    return _Parser(tokenize(text), schemas).parse()


class _Parser:
    def __init__(self, tokens: list[Token], schemas: Mapping[str, Schema]) -> None:
        self.tokens = tokens
        self.index = 0
        self.schemas = {name.lower(): schema for name, schema in schemas.items()}
        self.schema: Schema | None = None

    # Token helpers.
    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise SoqlError("unexpected end of query")
        self.index += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "keyword" and token.text in words

    def expect_keyword(self, word: str) -> None:
        token = self.next()
        if token.kind != "keyword" or token.text != word:
            raise SoqlError(f"unexpected token: '{token.text}', expected {word.upper()}")

    def expect(self, kind: str, text: str | None = None) -> Token:
        token = self.next()
        if token.kind != kind or (text is not None and token.text != text):
            raise SoqlError(f"unexpected token: '{token.text}'")
        return token

    # Grammar.
    def parse(self) -> Query:
        self.expect_keyword("select")
        raw_fields = [self.expect("ident").text]
        while self.peek() is not None and self.peek().text == ",":
            self.next()
            raw_fields.append(self.expect("ident").text)
        self.expect_keyword("from")
        object_token = self.expect("ident")
        self.schema = self.schemas.get(object_token.text.lower())
        if self.schema is None:
            raise SoqlError(
                f"sObject type '{object_token.text}' is not supported. If you are attempting "
                "to use a custom object, be sure to append the '__c' after the entity name.",
                "INVALID_TYPE",
            )
        fields: list[str] = []
        for raw in raw_fields:
            canonical = self.schema.resolve(raw)
            if canonical in fields:
                raise SoqlError(f"duplicate field selected: {canonical}")
            fields.append(canonical)
        where = None
        if self.at_keyword("where"):
            self.next()
            where = self.parse_expression()
        order_by = None
        if self.at_keyword("order"):
            self.next()
            self.expect_keyword("by")
            order_by = self.parse_order()
        limit = None
        if self.at_keyword("limit"):
            self.next()
            token = self.expect("number")
            if not isinstance(token.value, int) or token.value < 0:
                raise SoqlError(f"LIMIT must be a non-negative integer, got {token.text}")
            limit = token.value
        trailing = self.peek()
        if trailing is not None:
            raise SoqlError(f"unexpected token: '{trailing.text}'")
        return Query(self.schema.object_name, fields, where, order_by, limit)

    def parse_order(self) -> tuple[str, bool, bool]:
        assert self.schema is not None
        name = self.schema.resolve(self.expect("ident").text)
        descending = False
        if self.at_keyword("asc", "desc"):
            descending = self.next().text == "desc"
        nulls_last = descending  # SOQL puts nulls first ascending, last descending
        if self.at_keyword("nulls"):
            self.next()
            token = self.next()
            if token.text not in ("first", "last"):
                raise SoqlError(f"unexpected token: '{token.text}', expected FIRST or LAST")
            nulls_last = token.text == "last"
        if self.peek() is not None and self.peek().text == ",":
            raise SoqlError("the emulator supports ORDER BY on one field only")
        return name, descending, nulls_last

    def parse_expression(self) -> Predicate:
        first = self.parse_factor()
        if not self.at_keyword("and", "or"):
            return first
        joiner = self.peek().text
        parts = [first]
        while self.at_keyword("and", "or"):
            word = self.next().text
            if word != joiner:
                raise SoqlError(
                    f"unexpected token: '{word.upper()}'; use parentheses to combine AND and OR"
                )
            parts.append(self.parse_factor())
        if joiner == "and":
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)

    def parse_factor(self) -> Predicate:
        if self.at_keyword("not"):
            self.next()
            inner = self.parse_factor()
            return lambda record: not inner(record)
        token = self.peek()
        if token is not None and token.text == "(":
            self.next()
            inner = self.parse_expression()
            self.expect("punct", ")")
            return inner
        return self.parse_comparison()

    def parse_comparison(self) -> Predicate:
        assert self.schema is not None
        name = self.schema.resolve(self.expect("ident").text)
        field_type = self.schema.fields[name]
        if self.at_keyword("like"):
            self.next()
            literal = self.expect("string")
            if field_type != "string":
                raise SoqlError(
                    f"invalid operator on field '{name}': LIKE needs a text field",
                    "INVALID_FIELD",
                )
            return _like_predicate(name, literal.value)
        negate = False
        if self.at_keyword("not"):
            self.next()
            negate = True
            if not self.at_keyword("in"):
                raise SoqlError("unexpected token: 'NOT'; NOT IN is the only NOT operator")
        if self.at_keyword("in"):
            self.next()
            self.expect("punct", "(")
            values = [self.parse_literal(name, field_type)]
            while self.peek() is not None and self.peek().text == ",":
                self.next()
                values.append(self.parse_literal(name, field_type))
            self.expect("punct", ")")
            keys = {_key(value) for value in values}

            def in_predicate(record: Mapping[str, Any]) -> bool:
                found = _key(_record_value(record, name, field_type)) in keys
                return found != negate

            return in_predicate
        operator = self.expect("op").text
        value = self.parse_literal(name, field_type)
        return _compare_predicate(name, field_type, operator, value)

    def parse_literal(self, name: str, field_type: str) -> Any:
        token = self.next()
        if token.kind == "keyword" and token.text == "null":
            return None
        expected = {
            "datetime": ("datetime", "dateTime"),
            "date": ("date", "date"),
            "number": ("number", "number"),
            "string": ("string", "string"),
        }
        if field_type == "boolean":
            if token.kind == "keyword" and token.text in ("true", "false"):
                return token.text == "true"
            raise SoqlError(
                f"value of filter criterion for field '{name}' must be of type boolean "
                "and should not be enclosed in quotes",
                "INVALID_FIELD",
            )
        kind, label = expected[field_type]
        if token.kind != kind:
            quotes = "" if field_type == "string" else " and should not be enclosed in quotes"
            raise SoqlError(
                f"value of filter criterion for field '{name}' must be of type {label}{quotes}",
                "INVALID_FIELD",
            )
        return token.value


def _key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _record_value(record: Mapping[str, Any], name: str, field_type: str) -> Any:
    raw = record.get(name)
    if raw is None:
        return None
    if field_type == "datetime":
        return parse_record_datetime(str(raw))
    if field_type == "date":
        return date.fromisoformat(str(raw)[:10])
    return raw


def _compare_predicate(name: str, field_type: str, operator: str, value: Any) -> Predicate:
    if value is None:
        if operator not in ("=", "!=", "<>"):
            raise SoqlError(f"null can only be compared with = or != on field '{name}'")
        wants_null = operator == "="
        return lambda record: (record.get(name) is None) == wants_null
    target = _key(value)

    def predicate(record: Mapping[str, Any]) -> bool:
        actual = _record_value(record, name, field_type)
        if actual is None:
            return operator in ("!=", "<>")
        actual = _key(actual)
        if operator == "=":
            return actual == target
        if operator in ("!=", "<>"):
            return actual != target
        if operator == "<":
            return actual < target
        if operator == "<=":
            return actual <= target
        if operator == ">":
            return actual > target
        return actual >= target

    return predicate


def _like_predicate(name: str, pattern: str) -> Predicate:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "%_":
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
        index += 1
    regex = re.compile("".join(parts), re.IGNORECASE | re.DOTALL)

    def predicate(record: Mapping[str, Any]) -> bool:
        actual = record.get(name)
        return actual is not None and regex.fullmatch(str(actual)) is not None

    return predicate


def infer_type(value: Any) -> str | None:
    """Return the SOQL type of a stored value, or None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})", text):
        return "datetime"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return "date"
    return "string"


def sort_records(
    records: list[dict[str, Any]], order_by: tuple[str, bool, bool], field_type: str
) -> list[dict[str, Any]]:
    name, descending, nulls_last = order_by
    present = [record for record in records if record.get(name) is not None]
    missing = [record for record in records if record.get(name) is None]
    present.sort(
        key=lambda record: _key(_record_value(record, name, field_type)), reverse=descending
    )
    return present + missing if nulls_last else missing + present
