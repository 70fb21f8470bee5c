"""Header text for asset imports: what a column header becomes, and how messages quote it.

A header names the tag (``TAG_SYNONYMS``), the type (``TYPE_SYNONYMS``) or a property
(``property_name``); matching ignores case, spaces, punctuation and units in brackets. The column
plan built from these (which column goes where, and the errors) is `synapse.imports.mapping`.
Pure logic: no I/O, no database.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeGuard

TAG = "tag"
TYPE = "type"
PROP_PREFIX = "prop:"
MAX_PROPERTY_NAME = 100
# Headers listed in an error message before "… (N more)".
SHOWN_HEADERS = 30
SHOWN_TEXT = 60

# Spellings only need to differ after dropping case, spaces, punctuation and bracketed units:
# "tag no", "Tag-No", "tag_no" and "TAG NO." are one entry. Extend freely.
TAG_SYNONYMS: tuple[str, ...] = (
    "tag",
    "tag no.",
    "tag number",
    "asset tag",
    "equipment tag",
    "instrument tag",
    "item tag",
    "tag id",
    "tag name",
    "tag #",
    "tag no",
    "tagno",
    "tag_no",
    "tag-no",
    "tag nr.",
    "item no",
    "item number",
    "equipment no",
    "equipment number",
    "equipment nr.",
)
# Not "class" (an insulation or pressure class) nor "category": those stay properties.
TYPE_SYNONYMS: tuple[str, ...] = (
    "type",
    "asset type",
    "equipment type",
    "instrument type",
    "item type",
    "device type",
    "object type",
    "kind",
)
# Symbols that carry meaning in a unit and become a word in a property name; any other
# symbol (°, #, /, …) is dropped like punctuation.
SYMBOL_WORDS: Mapping[str, str] = {"%": "pct", "‰": "permille"}

_BRACKETS = re.compile(r"\[([^\[\]]*)\]|\(([^()]*)\)")
# Every run of characters that are not (Unicode) letters or digits; `_` included.
_NON_ALNUM = re.compile(r"[\W_]+")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
TARGETS_HELP = "a target must be tag, type, prop:<name> or null"


def property_name(header: str) -> str:
    """The property name a header becomes; "" when it has no letter or digit.

    Lowercase; units in square brackets or parentheses move to the end as a suffix; "%"
    becomes "pct"; every run of characters that are not letters or digits (Unicode letters
    and digits count, so "Ölstand", "µ" and "²" stay) becomes one "_", stripped at both ends.
    Other symbols are dropped, so degrees go: "Temp [°C]" → "temp_c".

    >>> property_name("Rated Power [kW]"), property_name("Load [%]"), property_name("power_kw")
    ('rated_power_kw', 'load_pct', 'power_kw')
    """
    text = unicodedata.normalize("NFC", header.replace("\ufeff", "")).lower()
    units = [m.group(1) if m.group(1) is not None else m.group(2) for m in _BRACKETS.finditer(text)]
    text = " ".join([_BRACKETS.sub(" ", text), *units])
    for symbol, word in SYMBOL_WORDS.items():
        text = text.replace(symbol, f" {word} ")
    return _NON_ALNUM.sub("_", text).strip("_")


def match_key(header: str) -> str:
    """Letters and digits outside brackets, lowercase ("Tag No. [-]" → "tagno")."""
    text = unicodedata.normalize("NFC", header).lower()
    outside = _NON_ALNUM.sub("", _BRACKETS.sub(" ", text))
    return outside or _NON_ALNUM.sub("", text)


TAG_KEYS = frozenset(match_key(s) for s in TAG_SYNONYMS)
TYPE_KEYS = frozenset(match_key(s) for s in TYPE_SYNONYMS)


def auto_target(header: str) -> str | None:
    """The automatic target of a header: "tag", "type", "prop:<name>", or None if unnamed."""
    key = match_key(header)
    if key in TAG_KEYS:
        return TAG
    if key in TYPE_KEYS:
        return TYPE
    name = property_name(header)
    return PROP_PREFIX + name if name else None


def header_key(header: Sequence[str]) -> str:
    """A stable key of a file layout: the same for headers differing in case or spacing only."""
    names = [n for h in header if (n := normal(h))]
    return hashlib.sha256("\x1f".join(names).encode()).hexdigest()[:32]


def name_problem(name: str) -> str | None:
    if not name:
        return "the property name is empty (write prop:<name>)"
    if len(name) > MAX_PROPERTY_NAME:
        return f"the property name is longer than {MAX_PROPERTY_NAME} characters"
    if CONTROL.search(name):
        return "the property name contains control characters"
    if name.lower() in (TAG, TYPE):
        return f"{quoted(name)} cannot be a property name; map the column to {name.lower()} instead"
    return None


# -- text ---------------------------------------------------------------------------------


def trim(header: str) -> str:
    return header.replace("\ufeff", "").strip()


def normal(header: str) -> str:
    """Lowercase, whitespace runs as one space, trimmed (as headers were matched before)."""
    text = unicodedata.normalize("NFC", header.replace("\ufeff", ""))
    return " ".join(text.split()).lower()


def is_prop(target: str | None) -> TypeGuard[str]:
    return target is not None and target.startswith(PROP_PREFIX)


def quoted(text: str) -> str:
    """A header or value quoted for a message: control characters escaped, long text cut."""
    shown = CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if len(shown) > SHOWN_TEXT:
        shown = shown[:SHOWN_TEXT] + "…"
    return f"'{shown}'"


def and_list(texts: Iterable[str]) -> str:
    each = [quoted(t) for t in texts]
    return each[0] if len(each) == 1 else f"{', '.join(each[:-1])} and {each[-1]}"


def listing(header: Sequence[str]) -> str:
    named = [h for h in header if h]
    if not named:
        return "nothing"
    shown = ", ".join(named[:SHOWN_HEADERS])
    more = len(named) - SHOWN_HEADERS
    return f"{shown}, … ({more} more)" if more > 0 else shown


def tag_examples(count: int = 6) -> list[str]:
    examples: dict[str, str] = {}
    for synonym in TAG_SYNONYMS:
        examples.setdefault(match_key(synonym), synonym.title())
    return list(examples.values())[:count]
