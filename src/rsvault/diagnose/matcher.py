"""A pasted error message -> the catalog entries it most likely is.

The message may be ours or Azure's, in English, Simplified or Traditional Chinese, with VM
names, paths and numbers of its own. Two passes:

1. A code, alias or Azure id written in the text wins outright (Azure prints them: "错误代码：
   UserErrorFsFreezeFailed", "(ID:34513)"); a near miss of a long code ("UserErrorFsFrezeFailed")
   counts too.
2. Otherwise the words decide: each entry is a bag of features from its titles, messages and
   keywords in all three languages (latin words and their 5-letter stems; CJK character
   bigrams, since Chinese has no spaces), weighted by rarity (TF-IDF). The text's features
   that no entry has (names, numbers, paths) are left out of the score, so they cannot dilute it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from rsvault.diagnose import lookup
from rsvault.errors import LANGUAGES, CatalogEntry, catalog

# Below this a text is unlike every entry; the best guess would only mislead. (Azure's
# messages in the seeds score 0.3 and up for their entry; unrelated text stays under 0.2.)
MIN_SCORE = 0.25
# One known word ("backup") says too little to name an entry.
MIN_KNOWN_FEATURES = 2
# Field weights: keywords are chosen to be distinctive, causes are long and diffuse.
_WEIGHTS = {"keywords": 3.0, "title": 2.0, "message": 1.5, "causes": 0.3}
# Negations stay: "not found" and "no such" are what many messages are about.
_STOPWORDS = frozenset(
    {"the", "a", "an", "of", "to", "in", "on", "for", "is", "are", "was", "were", "be", "by",
     "or", "and", "it", "its", "this", "that", "with", "from", "at", "as", "can", "could",
     "did", "does", "has", "have", "had", "will", "please", "try", "again"}
)  # fmt: skip
_LATIN = re.compile(r"[a-z][a-z0-9+#-]*[a-z0-9+#]|[a-z]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
# ASCII-only edges: a code may touch Chinese text directly ("错误代码UserError…").
_CODE_LIKE = re.compile(
    r"(?<![A-Za-z0-9])(?:0x[0-9a-f]{4,}|\d{5,6}|[a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![A-Za-z0-9])",
    re.I,
)
_LONG_CODE = 14  # a typo is recognised only in long, code-shaped words


@dataclass(frozen=True)
class Match:
    code: str
    score: float
    how: str  # "code": named in the text; "text": by its words


def match_message(text: str, limit: int = 3) -> list[Match]:
    named = _named_codes(text)
    found = [Match(code, 1.0, "code") for code in named]
    for code, score in _by_words(text):
        if len(found) >= limit:
            break
        if code not in named:
            found.append(Match(code, round(score, 3), "text"))
    return found[:limit]


def _named_codes(text: str) -> list[str]:
    codes: dict[str, None] = {}
    for word in _CODE_LIKE.findall(text):
        entry = lookup.find(word) if _may_be_code(word) else None
        if entry is None and len(word) >= _LONG_CODE and _has_inner_capital(word):
            near = lookup.closest(word, 1)
            entry = catalog()[near[0]] if near else None
        if entry is not None:
            codes.setdefault(entry.code)
    return list(codes)


def _may_be_code(word: str) -> bool:
    # Short numbers in a message are sizes and counts far more often than status numbers.
    return len(word) >= 5


def _has_inner_capital(word: str) -> bool:
    return any(c.isupper() for c in word[1:])


def _by_words(text: str) -> list[tuple[str, float]]:
    index = _index()
    query = Counter(_features(text))
    known = {f: n for f, n in query.items() if f in index.idf}
    if len(known) < MIN_KNOWN_FEATURES:
        return []
    q_weights = {f: (1 + math.log(n)) * index.idf[f] for f, n in known.items()}
    q_norm = math.sqrt(sum(w * w for w in q_weights.values()))
    best: dict[str, float] = {}
    for (code, _language), vector in index.vectors.items():
        dot = sum(w * vector.get(f, 0.0) for f, w in q_weights.items())
        score = dot / (q_norm * index.norms[(code, _language)])
        best[code] = max(best.get(code, 0.0), score)
    ranked = sorted(best.items(), key=lambda pair: pair[1], reverse=True)
    return [pair for pair in ranked if pair[1] >= MIN_SCORE]


Document = tuple[str, str]  # (code, language): an entry's words in one language


@dataclass(frozen=True)
class _Index:
    idf: dict[str, float]
    vectors: dict[Document, dict[str, float]]
    norms: dict[Document, float]


@cache
def _index() -> _Index:
    # One document per entry and language: a pasted message is in one language, and would
    # otherwise be measured against three languages' worth of words.
    bags = {
        (code, language): _entry_bag(entry, language)
        for code, entry in catalog().items()
        for language in LANGUAGES
    }
    frequency = Counter(f for bag in bags.values() for f in bag)
    idf = {f: math.log(len(bags) / n) + 1.0 for f, n in frequency.items()}
    vectors = {doc: {f: _damped(w) * idf[f] for f, w in bag.items()} for doc, bag in bags.items()}
    norms = {doc: math.sqrt(sum(w * w for w in v.values())) or 1.0 for doc, v in vectors.items()}
    return _Index(idf, vectors, norms)


def _damped(weight: float) -> float:
    """A word said five times is not five times the evidence."""
    return 1 + math.log(weight) if weight >= 1 else weight


def _entry_bag(entry: CatalogEntry, language: str) -> dict[str, float]:
    bag: dict[str, float] = defaultdict(float)
    for field, weight in _WEIGHTS.items():
        for text in _texts(entry, field, language):
            for feature in _features(_PLACEHOLDER.sub(" ", text)):
                bag[feature] += weight
    return bag


def _texts(entry: CatalogEntry, field: str, language: str) -> Iterable[str]:
    if field == "title":
        yield entry.title.get(language, "")
    elif field == "message":
        yield entry.message.get(language, "")
    elif field == "causes":
        yield from entry.causes.get(language, ())
    else:
        yield from entry.keywords.get(language, ())


def _features(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).lower()
    features = _latin_features(folded)
    for run in _CJK.findall(folded):
        features.extend(run[i : i + 2] for i in range(len(run) - 1))
        if len(run) == 1:
            features.append(run)
    return features


def _latin_features(folded: str) -> list[str]:
    """Words, their 5-letter stems, and pairs of neighbours ("not valid", "no vm")."""
    features: list[str] = []
    previous: str | None = None
    for word in _LATIN.findall(folded):
        parts = word.split("-") if "-" in word else []
        for token in (word, *parts):
            if token not in _STOPWORDS and len(token) > 1:
                features.append(token)
                if len(token) > 5:
                    features.append(token[:5] + "~")
        if word in _STOPWORDS:
            previous = None
            continue
        if previous is not None:
            features.append(f"{previous} {word}")
        previous = word
    return features
