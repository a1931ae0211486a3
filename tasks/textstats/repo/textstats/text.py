"""Text normalization shared by the corpus statistics."""

import re

_NON_WORD = re.compile(r"[^a-z']+")
_QUOTES = re.compile(r"(?<![a-z])'|'(?![a-z])")


def normalize(text):
    """Lower-case `text`, keep letters and inner apostrophes, separate words by single spaces."""
    text = _NON_WORD.sub(" ", text.lower())
    text = _QUOTES.sub(" ", text)
    return " ".join(text.split())


def words(text):
    """The words of already-normalized text."""
    return text.split()
