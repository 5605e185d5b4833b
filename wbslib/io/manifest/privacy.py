"""What leaves the data folder: source files named by keyed ids, sentences with their paths replaced,
and the second-line search for identifiers in file and folder names.

First line: an output that leaves the data folder (a manifest outside it, the run folder's lists,
reports, the index, an enhanced-outputs manifest) never holds a source path. A file is named there by
`FileNames.id`, the keyed hash (`pseudonym.file_id`) of its path relative to the folder walked or the
data root, and every error sentence goes through `FileNames.redact`, which replaces each form of each
known path (as given, absolute, resolved, relative) by that id and any remaining folder or file name by
'[name withheld]' — except a path that is a plain lower-case word such as 'scan' or 'loop', which would
also match the words of the sentence. Only the local terminal shows real paths, on request
(`--show-paths`).

Second line: a manifest that keeps source paths (one written inside its data folder without
--copy-to) must not carry identifiers in them. `IdentifierSearch` looks for header identifiers and for
any calendar date, normalised: case, accents folded or transliterated (Müller → muller and mueller),
separators ignored (Mueller_Joerg, MUELLER-JOERG), dates in any order and separator (19570305,
1957-03-05, 05.03.1957, 1957_03_05, 05031957, 5.3.57).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from wbslib.io.manifest.pseudonym import file_id

WITHHELD = "[name withheld]"
MIN_TOKEN = 3  # shorter fragments (initials, sex, "12") would match innocent paths
MIN_PART = 3  # folder and file names shorter than this are not searched for in sentences
PLAIN = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th"})
GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
KIND_WORDS = {"name": "a name", "id": "an ID or UID", "date": "a date"}

_Y, _YY = r"(?:19|20)\d\d", r"\d\d"
_MM, _DD = r"(?:0[1-9]|1[0-2])", r"(?:0[1-9]|[12]\d|3[01])"
_M1, _D1 = r"(?:0?[1-9]|1[0-2])", r"(?:0?[1-9]|[12]\d|3[01])"
_S, _S0 = r"[-_. /]", r"[-_. /]?"
ANY_DATE = re.compile(
    r"(?<!\d)(?:"
    + "|".join(
        (
            f"{_Y}{_S0}{_MM}{_S0}{_DD}",
            f"{_DD}{_S0}{_MM}{_S0}{_Y}",
            f"{_MM}{_S0}{_DD}{_S0}{_Y}",
            f"{_Y}{_S}{_M1}{_S}{_D1}",
            f"{_D1}{_S}{_M1}{_S}{_Y}",
            f"{_M1}{_S}{_D1}{_S}{_Y}",
        )
    )
    + r")(?!\d)"
)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def folded(text: str) -> set[str]:
    """Lower-case spellings of `text` without accents: 'Müller' → {'muller', 'mueller'}, 'Groß' → {'gross'}."""
    low = unicodedata.normalize("NFC", text).casefold().translate(PLAIN)
    return {_strip_accents(low), _strip_accents(low.translate(GERMAN))}


def compact(text: str) -> str:
    """Letters and digits only (separators, spaces and punctuation dropped)."""
    return re.sub(r"[^0-9a-z]", "", text)


def date_pattern(yyyymmdd: str) -> str:
    """Regex alternatives for one date in any order and separator, zero-padded or not, 4- or 2-digit year."""
    y, m, d = yyyymmdd[:4], yyyymmdd[4:6], yyyymmdd[6:]
    m1, d1 = str(int(m)), str(int(d))
    padded = [(y, m, d), (d, m, y), (m, d, y), (y[2:], m, d), (d, m, y[2:]), (m, d, y[2:])]
    loose = [(y, m1, d1), (d1, m1, y), (m1, d1, y), (d1, m1, y[2:])]
    alternatives = [_S0.join(parts) for parts in padded] + [_S.join(parts) for parts in loose]
    return "|".join(dict.fromkeys(alternatives))


class IdentifierSearch:
    """Finds identifiers in paths: header values (kind, text) with kind 'name', 'id' or 'date'
    (YYYYMMDD), normalised as the module says, and any calendar date."""

    def __init__(self, identifiers: Iterable[tuple[str, str]]):
        long_tokens: dict[str, str] = {}
        self.short: dict[str, str] = {}
        dates: dict[str, str] = {}
        for kind, text in identifiers:
            if kind == "date":
                if re.fullmatch(r"\d{8}", text) and 1 <= int(text[4:6]) <= 12 and 1 <= int(text[6:]) <= 31:
                    dates[date_pattern(text)] = kind
                continue
            for variant in folded(text):
                token = compact(variant)
                if len(token) > MIN_TOKEN:
                    long_tokens[token] = kind
                elif len(token) == MIN_TOKEN:
                    self.short[token] = kind
        self.kinds = long_tokens
        by_length = sorted(long_tokens, key=len, reverse=True)
        self.tokens = re.compile("|".join(map(re.escape, by_length))) if by_length else None
        self.dates = re.compile(r"(?<!\d)(?:" + "|".join(dates) + r")(?!\d)") if dates else None

    def kinds_in(self, path: str) -> list[str]:
        """The kinds of identifier ('name', 'id', 'date') found in `path`, in that order."""
        found = set()
        for variant in folded(path):
            if self.tokens is not None:
                found.update(self.kinds[m.group()] for m in self.tokens.finditer(compact(variant)))
            found.update(self.short[run] for run in re.findall(r"[0-9a-z]+", variant) if run in self.short)
            if (self.dates is not None and self.dates.search(variant)) or ANY_DATE.search(variant):
                found.add("date")
        return [k for k in KIND_WORDS if k in found]

    def describe(self, path: str) -> str:
        """'' when `path` holds no identifier, else what it holds ('a name and a date') — never the values."""
        words = [KIND_WORDS[k] for k in self.kinds_in(path)]
        return " and ".join(filter(None, (", ".join(words[:-1]), words[-1]))) if words else ""


def _plain_word(text: str) -> bool:
    """A lower-case word ('scan', 'loop'): as a path it would also match ordinary words of a sentence."""
    return re.fullmatch(r"[a-z]+", text) is not None


class FileNames:
    """Keyed ids of the files under one folder, and sentences with their paths replaced by those ids.

    `paths` maps each id handed out to its relative path: for the local terminal (`--show-paths`) only.
    """

    def __init__(self, folder: str | os.PathLike, key: bytes):
        self.folder = Path(folder)
        self.key = key
        self.paths: dict[str, str] = {}
        self._forms: dict[str, str] = {}
        self._parts: set[str] = set()
        self._compiled: tuple[list[str], re.Pattern | None] | None = None

    def id(self, relpath: str) -> str:
        """The file id of `relpath` (POSIX, relative to the folder); remembers its path forms for `redact`."""
        fid = file_id(relpath, self.key)
        if fid not in self.paths:
            self.paths[fid] = relpath
            path = self.folder / relpath
            forms = {relpath, str(path), os.path.abspath(path)}
            try:
                forms.add(str(path.resolve()))
            except (OSError, RuntimeError):  # a symlink loop has no resolved form
                pass
            self._forms.update({form: fid for form in forms if not _plain_word(form)})
            parts = Path(relpath).parts
            names = {p for part in parts for p in (part, Path(part).stem)}
            self._parts.update(p for p in names if len(p) >= MIN_PART and not _plain_word(p))
            self._compiled = None
        return fid

    def redact(self, text: str) -> str:
        """`text` with every known path replaced by its file id and any known folder or file name withheld."""
        if self._compiled is None:
            parts = sorted(self._parts, key=len, reverse=True)
            pattern = r"(?<![0-9A-Za-z])(?:" + "|".join(map(re.escape, parts)) + r")(?![0-9A-Za-z])"
            self._compiled = (sorted(self._forms, key=len, reverse=True), re.compile(pattern) if parts else None)
        forms, parts = self._compiled
        for form in forms:
            if form in text:
                text = text.replace(form, self._forms[form])
        return parts.sub(WITHHELD, text) if parts is not None else text
