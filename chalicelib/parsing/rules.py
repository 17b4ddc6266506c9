"""What a valid header and a valid required value of a kind are, and how a problem is worded.

A quoted value is taken literally, spaces included; spaces around an unquoted
value are dropped. A required value must not contain a control character
(U+0000 to U+001F, tab and line breaks included, or U+007F): downstream systems
take names and ids as one line of text, and rows are stored as tab-separated
lines (``row_chunks``). An amount is a plain decimal number. Problems are
worded for the partner who reads the report.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.errors import InvalidFileError, Problem
from chalicelib.kinds import FileKind

MAX_ID_LENGTH = 200
MAX_AMOUNT_DIGITS = 15  # before the decimal point
MAX_AMOUNT_PLACES = 2   # after it
AMOUNT = re.compile(  # ASCII digits only: \d takes any script
    rf"[0-9]{{1,{MAX_AMOUNT_DIGITS}}}+(?:\.[0-9]{{1,{MAX_AMOUNT_PLACES}}}+)?+")
AMOUNT_RULE = (f"the amount must be a non-negative decimal number: digits 0-9 with an optional '.', "
               f"at most {MAX_AMOUNT_DIGITS} digits before the point and at most "
               f"{MAX_AMOUNT_PLACES} decimal places, e.g. 1234.50")
# No value holds C0 controls, DEL, or the non-characters U+FFFE and U+FFFF: SQS refuses a
# message with any of them (it takes #x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD and
# #x10000-#x10FFFF), and a published value reaches the queue. Surrogates cannot come
# from UTF-8 text.
_FORBIDDEN = r"\x00-\x1f\x7f\ufffe\uffff"
CONTROL = re.compile(rf"[{_FORBIDDEN}]")
# A valid value that may have spaces at either end (a quoted value is literal):
# not blank, no control character, at most MAX_ID_LENGTH characters, spaces included.
_PADDED_VALUE = rf"(?=[^\S\n]*+\S)[^{_FORBIDDEN}]{{1,{MAX_ID_LENGTH}}}+"
_UNSIGNED_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_CONTROL_NAMES = ["NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "TAB", "LF", "VT", "FF",
                  "CR", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM",
                  "SUB", "ESC", "FS", "GS", "RS", "US"]


@dataclass(frozen=True)
class Header:
    """Where a file's header puts the columns."""

    names: list[str]      # the header's names, stripped and in lower case
    positions: list[int]  # of the kind's required columns, in the kind's order

    @property
    def width(self) -> int:
        """The number of fields of every line."""
        return len(self.names)


def check_header(cells: list[str], line: int, kind: FileKind, file_name: str) -> Header:
    """The header's layout, once it names each required column once (any order, extra columns allowed)."""
    names = [cell.strip().lower() for cell in cells]
    problems = []
    for column in kind.columns:
        if column not in names:
            problems.append(Problem(line, column, "",
                                    f"required column is missing from the header "
                                    f"(found: {','.join(names)})"))
        elif names.count(column) > 1:
            problems.append(Problem(line, column, "", "the column appears more than once in the header"))
    if problems:
        raise InvalidFileError(file_name, problems,
                               hint=f"The header must name the columns {kind.header} "
                                    f"(any order; extra columns are ignored).")
    return Header(names, [names.index(column) for column in kind.columns])


def value_pattern(excluded: str = "") -> str:
    """A valid required value: not empty, no whitespace at either end (so
    stripping changes nothing), no control character, at most MAX_ID_LENGTH
    characters, none of ``excluded``."""
    # Possessive ({}+) and a look-behind for the last character: no
    # backtracking. The control characters (\n among them) are one more range
    # of the excluded class, which costs nothing.
    return (rf"[^\s{excluded}{_FORBIDDEN}][^{excluded}{_FORBIDDEN}]{{0,{MAX_ID_LENGTH - 1}}}+"
            rf"(?<!\s)")


def row_pattern(kind: FileKind, padded: bool = False) -> re.Pattern[str]:
    """Matches a row's required values, joined by line feeds, when each is valid (an amount
    where the kind has one); with ``padded``, a value may have spaces at either end.

    A value may hold a comma or a quote here, but never a line feed (a control
    character), so the joint cannot be mistaken for a character of a value.
    """
    value = _PADDED_VALUE if padded else value_pattern()
    return re.compile("\n".join(AMOUNT.pattern if column == kind.amount_column else value
                                 for column in kind.columns))


def value_problems(kind: FileKind, line: int, raw: list[str], values: list[str]) -> list[Problem]:
    """What is wrong with the required values of a row, one problem per value at most.

    ``raw`` are the fields as read, ``values`` what they stand for (an
    unquoted field without its padding).
    """
    problems = []
    for index, (name, field, value) in enumerate(zip(kind.columns, raw, values)):
        control = CONTROL.search(field)
        if control:
            problems.append(Problem(line, name, shown(field), _control_reason(field, control.start())))
        elif not value.strip():
            problems.append(Problem(line, name, "", "the value is missing"))
        elif index == kind.amount_index:
            if not AMOUNT.fullmatch(value):
                problems.append(Problem(line, name, shown(value), _amount_reason(value)))
        elif len(value) > MAX_ID_LENGTH:
            problems.append(Problem(line, name, value[:40] + "...",
                                    f"the value is longer than {MAX_ID_LENGTH} characters "
                                    f"(it has {len(value):,}); shorten it"))
    return problems


def repeated_id(kind: FileKind, line: int, row_id: str, first_line: int) -> Problem:
    return Problem(line, kind.id_column, row_id, f"duplicate id: already used on line {first_line}")


def shown(value: str) -> str:
    """A value as a report shows it: shortened when it is too long to be one."""
    return value if len(value) <= MAX_ID_LENGTH else value[:40] + "..."


def _control_reason(value: str, at: int) -> str:
    """Which control character (or non-character) the value holds first, where, how many
    more, and what to do."""
    code = ord(value[at])
    crlf = value.startswith("\r\n", at)
    if crlf:
        what = "a line break (U+000D U+000A, CRLF)"
    elif value[at] in "\r\n":
        what = f"a line break (U+{code:04X}, {_CONTROL_NAMES[code]})"
    elif code >= 0xFFFE:
        what = f"the non-character U+{code:04X} (no text holds it, and queues refuse it)"
    else:
        what = f"a control character (U+{code:04X}, {'DEL' if code == 0x7F else _CONTROL_NAMES[code]})"
    reason = f"the value contains {what} at character {at + 1}"
    others = CONTROL.findall(value, at)[1 + crlf:]
    if others:
        noun = "such character" if {"\ufffe", "\uffff"} & {value[at], *others} else "control character"
        reason += f" and {len(others)} more {noun}{'s' if len(others) > 1 else ''}"
    reason += "; remove them" if others else "; remove it"
    if value[at] in "\r\n":
        reason += " (a value must be on one line)"
    return reason


def _amount_reason(value: str) -> str:
    """The rule the amount breaks: the number of digits when that is all, else the whole rule."""
    digits = _UNSIGNED_DECIMAL.fullmatch(value)
    if not digits:
        return AMOUNT_RULE
    before, after = len(digits[1]), len(digits[2] or "")
    if before > MAX_AMOUNT_DIGITS and after > MAX_AMOUNT_PLACES:
        return (f"the amount has {before} digits before the decimal point and {after} decimal "
                f"places; at most {MAX_AMOUNT_DIGITS} digits before the point and at most "
                f"{MAX_AMOUNT_PLACES} decimal places are allowed")
    if before > MAX_AMOUNT_DIGITS:
        return (f"the amount has {before} digits before the decimal point; "
                f"at most {MAX_AMOUNT_DIGITS} are allowed")
    if after > MAX_AMOUNT_PLACES:
        return (f"the amount has {after} decimal places; "
                f"at most {MAX_AMOUNT_PLACES} decimal places are allowed")
    return AMOUNT_RULE
