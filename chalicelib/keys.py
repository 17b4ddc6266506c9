"""What an object key says: which kind of file, of which batch, in which folder.

A batch is the three files of one folder (the key's prefix) with one batch id:
``partner-a/orders_20230828.csv`` and ``partner-b/orders_20230828.csv`` belong
to two batches that never mix. So one batch's file of one kind always has the
same key, and S3's sequencer orders every event that competes for it.

A key that is not ``<folder/><kind>_<batch id>.csv`` is diagnosed part by part
(extension, kind, separator, batch id, folder), so its report can say exactly
what to rename; where a batch id can still be read from it, the report is
filed with that batch, so that its status shows it.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.errors import Problem, UnknownObjectKeyError
from chalicelib.kinds import KINDS  # imported from here by the store, the pipeline and the scripts
from chalicelib.parsing.rules import CONTROL

# A batch id is letters, digits, '-' and '.', starting with a letter or digit.
BATCH_ID_MAX = 100
# S3's limit on an object key, and DynamoDB's on a sort key: 1,024 bytes of UTF-8. An
# upload's key may be that long, so a key made from it (a report's, a record's) may not.
KEY_MAX_BYTES = 1024
_BATCH_ID = rf"[A-Za-z0-9][A-Za-z0-9.-]{{0,{BATCH_ID_MAX - 1}}}"
BATCH_ID_PATTERN = re.compile(_BATCH_ID)
_FILE_NAME = re.compile(rf"({'|'.join(map(re.escape, KINDS))})_({_BATCH_ID})\.csv")
_BATCH_ID_CHAR = re.compile(r"[A-Za-z0-9.-]")
_CHARACTER_NAMES = {"_": "an underscore '_'", " ": "a space", "#": "'#'", "/": "'/'"}


@dataclass(frozen=True, order=True)
class BatchRef:
    """One batch: a batch id in a folder ("" for the top of the bucket)."""

    folder: str
    batch_id: str

    @property
    def key(self) -> str:
        """``partner-a/20230828``, or ``20230828`` at the top of the bucket.

        Unambiguous: a batch id holds no '/', so the last '/' ends the folder.
        Every DynamoDB key, report and payload of the batch is built on it.
        """
        return f"{self.folder}/{self.batch_id}" if self.folder else self.batch_id

    def describe(self) -> str:
        where = f"folder {self.folder}/" if self.folder else "the top of the bucket"
        return f"batch {self.batch_id} in {where}"

    @classmethod
    def parse(cls, text: str) -> BatchRef:
        """``partner-a/20230828`` (as ``make status BATCH=`` takes it) into folder and id."""
        folder, _, batch_id = text.strip().rpartition("/")
        return cls(folder, batch_id)


@dataclass(frozen=True)
class ObjectName:
    key: str
    kind: str
    batch: BatchRef

    @property
    def batch_id(self) -> str:
        return self.batch.batch_id

    @property
    def folder(self) -> str:
        return self.batch.folder

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


class MisnamedObjectError(UnknownObjectKeyError):
    """The key is not ``<kind>_<batch id>.csv``; ``batch``/``kind`` are what could still be read."""

    def __init__(self, key: str, problems: list[Problem], hint: str,
                 batch: BatchRef | None, kind: str | None) -> None:
        super().__init__(key, problems, hint=hint)
        self.batch = batch
        self.kind = kind


def split_key(key: str) -> tuple[str, str]:
    """(folder, file name): ``a/b/orders_x.csv`` -> (``a/b``, ``orders_x.csv``)."""
    folder, _, file_name = key.rpartition("/")
    return folder, file_name


def parse_object_key(key: str) -> ObjectName:
    """Split ``incoming/orders_20230828.csv`` into folder, kind and batch, or say what is wrong."""
    folder, file_name = split_key(key)
    match = _FILE_NAME.fullmatch(file_name)  # fullmatch: "$" would also allow a trailing newline
    folder_problems = _folder_problems(key, folder)
    if match and not folder_problems:
        return ObjectName(key=key, kind=match.group(1), batch=BatchRef(folder, match.group(2)))
    diagnosis = _diagnose_file_name(file_name) if not match else _Diagnosis(
        [], match.group(1), match.group(2))
    problems = folder_problems + diagnosis.problems
    fixed = _fixed_batch_id(diagnosis.batch_text)
    # Filed with the batch the name means: an invalid batch id ("b_1") as it
    # must be written ("b-1"), so that its report clears when that batch publishes.
    readable = bool(diagnosis.batch_text) and not folder_problems and bool(
        BATCH_ID_PATTERN.fullmatch(fixed))
    batch = BatchRef(folder, fixed) if readable else None
    suggestion = f"{diagnosis.kind or '<kind>'}_{fixed}.csv"
    hint = (f"Rename the file to {suggestion} and upload it again"
            + (f" into {folder}/" if folder and not folder_problems else "")
            + f": a file's name is its kind ({_one_of(KINDS)}, in lower case), '_', "
              "the batch id (letters, digits, '-' and '.'), and '.csv' in lower case.")
    raise MisnamedObjectError(key, problems, hint, batch, diagnosis.kind)


@dataclass
class _Diagnosis:
    problems: list[Problem]
    kind: str | None       # the kind the name means, when it can be told
    batch_text: str        # what stands where the batch id belongs ("" if nothing)


def _problem(value: str, reason: str) -> Problem:
    return Problem(line=0, column="", value=value, reason=reason)


def _folder_problems(key: str, folder: str) -> list[Problem]:
    if not key:
        return [_problem("", "the object key is empty")]
    if "/" in key and "" in folder.split("/"):
        # "/x.csv" and "a//x.csv" would otherwise fold into the folders "" and "a".
        return [_problem(folder + "/", "the folder has an empty name: the key starts with '/' "
                                       "or has '//' in it; remove the extra '/'")]
    # The folder is in every message of the batch, and a queue refuses these characters.
    # The characters a file's value may not hold either (SQS refuses a message with one).
    unsendable = sorted(set(CONTROL.findall(folder)), key=folder.index)
    if unsendable:
        return [_problem(folder + "/", "the folder's name holds " + ", ".join(map(_character, unsendable))
                         + ", which no message can carry; upload into a folder without it")]
    return []


def _diagnose_file_name(name: str) -> _Diagnosis:
    problems: list[Problem] = []
    if not name:
        problems.append(_problem("", "the key ends in '/': it is a folder, not a file"))
        return _Diagnosis(problems, None, "")
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
        problems.append(_problem(name, "the name has no extension: it must end in .csv"))
    elif extension == "csv":
        pass
    elif extension.lower() == "csv":
        problems.append(_problem("." + extension, f"the extension must be lower-case .csv, "
                                                  f"not .{extension}"))
    elif stem.lower().endswith(".csv"):
        problems.append(_problem("." + extension, f"the file must be plain CSV text ending in "
                                                  f".csv, not .{extension} (compressed or "
                                                  f"wrapped files are not read)"))
        stem = stem[:-len(".csv")]
    else:
        problems.append(_problem("." + extension, f"the extension must be .csv, not "
                                                  f".{extension}"))
    kind, batch_text = _diagnose_stem(stem, problems)
    if batch_text:
        problems.extend(_batch_id_problems(batch_text))
    return _Diagnosis(problems, kind, batch_text)


def _diagnose_stem(stem: str, problems: list[Problem]) -> tuple[str | None, str]:
    """The kind at the start of ``stem`` and the text after it, with what is wrong with them."""
    lowered = stem.lower()
    for kind in KINDS:
        for written in (kind, kind[:-1]):  # "orders", or the singular "order"
            if not lowered.startswith(written):
                continue
            found = stem[:len(written)]
            if written != kind:  # the plural was tried first
                problems.append(_problem(found, f"the kind is '{kind}' (plural), not '{found}'"))
            elif found != kind:
                problems.append(_problem(found, f"the kind must be lower-case '{kind}', "
                                                f"not '{found}'"))
            rest = stem[len(written):]
            if rest.startswith("_"):
                rest = rest[1:]
            elif rest[:1] in ("-", " ", "."):
                problems.append(_problem(rest[:1], f"the kind and the batch id must be separated "
                                                   f"by '_', not {_character(rest[:1])}"))
                rest = rest[1:]
            else:
                problems.append(_problem(stem, "the kind and the batch id must be separated "
                                               "by '_'"))
            if not rest:
                problems.append(_problem(stem, "there is no batch id after the kind"))
            return kind, rest
    head, underscore, rest = stem.partition("_")
    problems.append(_problem(head if underscore else stem,
                             f"the name must start with the kind: {_one_of([k + '_' for k in KINDS])}"))
    return None, rest if BATCH_ID_PATTERN.fullmatch(rest) else ""


def _batch_id_problems(batch_text: str) -> list[Problem]:
    problems = []
    bad = sorted({c for c in batch_text if not _BATCH_ID_CHAR.fullmatch(c)},
                 key=batch_text.index)
    if bad:
        problems.append(_problem(batch_text, "the batch id may hold only letters, digits, '-' "
                                             "and '.'; it has " + ", ".join(map(_character, bad))))
    elif not batch_text[0].isalnum():
        problems.append(_problem(batch_text, "the batch id must start with a letter or digit, "
                                             f"not {_character(batch_text[0])}"))
    if len(batch_text) > BATCH_ID_MAX:
        problems.append(_problem(batch_text, f"the batch id is {len(batch_text)} characters "
                                             f"long; at most {BATCH_ID_MAX} are allowed"))
    return problems


def _one_of(words: Sequence[str]) -> str:
    """``a, b or c``."""
    *rest, last = words
    return f"{', '.join(rest)} or {last}" if rest else last


def _character(char: str) -> str:
    if char in _CHARACTER_NAMES:
        return _CHARACTER_NAMES[char]
    if char in "\ufffe\uffff":
        return f"the non-character U+{ord(char):04X}"
    if char.isprintable():
        return f"'{char}'"
    if unicodedata.category(char) == "Cc":
        return f"the control character U+{ord(char):04X}"
    name = unicodedata.name(char, "")  # a space, a format character, an unassigned one
    return f"the character U+{ord(char):04X}" + (f" ({name})" if name else "")


def suggested_batch_id(batch_text: str) -> str:
    """What ``batch_text`` must be written as to be a batch id (``b_1`` -> ``b-1``)."""
    return _fixed_batch_id(batch_text)


def _fixed_batch_id(batch_text: str) -> str:
    """The batch id with what is not allowed in one replaced by '-', for the suggested name."""
    fixed = "".join(c if _BATCH_ID_CHAR.fullmatch(c) else "-" for c in batch_text)
    fixed = fixed.lstrip("-.")[:BATCH_ID_MAX]
    return fixed or "<batch id>"


def within_key_limit(text: str, suffix: str = "", limit: int = KEY_MAX_BYTES) -> str:
    """``text`` and ``suffix``, if they fit in ``limit`` bytes; else the start of ``text``,
    '~', a hash of all of it, and ``suffix``: two texts still make two keys, and a person
    still recognises the start."""
    whole = text + suffix
    if len(whole.encode()) <= limit:
        return whole
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    room = limit - len(suffix.encode()) - len(digest) - 1
    start = text.encode()[:room].decode("utf-8", "ignore")  # not half a character
    return f"{start}~{digest}{suffix}"
