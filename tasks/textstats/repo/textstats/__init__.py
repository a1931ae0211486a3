"""textstats: word statistics over a collection of plain-text documents (stdlib only)."""

from .corpus import Corpus
from .text import normalize, words

__all__ = ["Corpus", "normalize", "words"]
__version__ = "1.2.0"
