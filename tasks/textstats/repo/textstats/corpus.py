"""A corpus of documents with word-frequency queries."""

from collections import Counter

from .text import normalize, words


class Corpus:
    """An immutable collection of documents, normalized on construction."""

    def __init__(self, documents):
        self._docs = [normalize(doc) for doc in documents]
        self._lengths = [len(words(doc)) for doc in self._docs]

    def __len__(self):
        return len(self._docs)

    def document(self, doc_id):
        """The normalized text of one document."""
        return self._docs[doc_id]

    def document_length(self, doc_id):
        """The number of words in one document."""
        return self._lengths[doc_id]

    def num_words(self):
        return sum(self._lengths)

    def word_frequency(self, word):
        """How many times `word` occurs in the whole corpus."""
        word = normalize(word)
        return sum(words(doc).count(word) for doc in self._docs)

    def document_frequency(self, word):
        """How many documents contain `word`."""
        return len(self.docs_containing(word))

    def docs_containing(self, word):
        """Ids of the documents that contain `word`, ascending."""
        word = normalize(word)
        return [i for i, doc in enumerate(self._docs) if word in words(doc)]

    def cooccurrence(self, first, second):
        """How many documents contain both words."""
        both = set(self.docs_containing(first)) & set(self.docs_containing(second))
        return len(both)

    def top_words(self, k, min_length=1):
        """The `k` most frequent words of at least `min_length` letters as (word, count)
        pairs, most frequent first, ties broken alphabetically."""
        counts = Counter()
        for doc in self._docs:
            counts.update(words(doc))
        ranked = sorted((item for item in counts.items() if len(item[0]) >= min_length),
                        key=lambda item: (-item[1], item[0]))
        return ranked[:k]

    def vocabulary(self):
        """All distinct words, sorted."""
        vocab = set()
        for doc in self._docs:
            vocab.update(words(doc))
        return sorted(vocab)
