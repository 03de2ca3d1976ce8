"""Go value syntax as kube-apiserver's flag library reads it.

Mirrors the parsers behind ``github.com/spf13/pflag`` value types: ``strconv.ParseBool``
(bool flags), ``strconv.ParseInt(s, 0, 64)`` (int flags), ``time.ParseDuration`` (duration
flags) and ``encoding/csv`` splitting (``strings`` slice flags). Pure functions, no I/O.
"""

from __future__ import annotations

import re

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class GoParseError(ValueError):
    """A value the Go parser would reject; the message is worded like Go's."""


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``: exactly 1/t/T/TRUE/true/True and 0/f/F/FALSE/false/False."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise GoParseError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


_INT_BASE0 = re.compile(r"^[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|0[0-7_]*|[1-9][0-9_]*)$")


def parse_int(text: str) -> int:
    """``strconv.ParseInt(s, 0, 64)``: decimal, ``0x``/``0o``/``0b`` prefixes, a leading ``0`` is octal."""
    if not _INT_BASE0.match(text) or "__" in text or text.endswith("_"):
        raise GoParseError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").replace("_", "")
    value = int(body, 8) if len(body) > 1 and body[0] == "0" and body[1] in "0123456789" else int(body, 0)
    value *= sign
    if not -(2**63) <= value < 2**63:
        raise GoParseError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return value


_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_DUR_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration_ns(text: str) -> int:
    """``time.ParseDuration`` in nanoseconds: ``300ms``, ``-1.5h``, ``2h45m``; ``0`` needs no unit."""
    orig = text
    if not text:
        raise GoParseError('time: invalid duration ""')
    sign = 1
    if text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise GoParseError(f'time: invalid duration "{orig}"')
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _DUR_PART.match(text, pos)
        if not m or m.group(1) in ("", "."):
            if re.match(r"[0-9.]+$", text[pos:]):
                raise GoParseError(f'time: missing unit in duration "{orig}"')
            raise GoParseError(f'time: invalid duration "{orig}"')
        total += float(m.group(1)) * _UNITS_NS[m.group(2)]
        pos = m.end()
    return sign * round(total)


def format_duration(ns: int) -> str:
    """Go's ``Duration.String`` for whole seconds and above (``1m0s``, ``1h0m0s``), else ``Nms``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns % 1_000_000_000:
        return f"{sign}{ns / 1_000_000:g}ms"
    secs = ns // 1_000_000_000
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{sign}{h}h{m}m{s}s"
    if m:
        return f"{sign}{m}m{s}s"
    return f"{sign}{s}s"


def split_csv(text: str) -> list[str]:
    """A ``strings`` flag value as pflag reads it: one CSV record (quotes allowed), empty -> []."""
    if text == "":
        return []
    if '"' not in text:
        return text.split(",")
    import csv

    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise GoParseError(f"invalid CSV value {text!r}: {exc}") from None
    return rows[0] if rows else []
