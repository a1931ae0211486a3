"""Tokenizing and a small inverted index for boolean AND search."""

import itertools
import random

PUNCT = ".,;:!?\"'()[]{}<>-_/\\*&^%$#@~`|+=0123456789"

STOPWORDS = [
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and",
    "any", "are", "as", "at", "be", "because", "been", "before", "being", "below",
    "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing",
    "down", "during", "each", "few", "for", "from", "further", "had", "has", "have",
    "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me",
    "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off",
    "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over",
    "own", "same", "she", "should", "so", "some", "such", "than", "that", "the",
    "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those",
    "through", "to", "too", "under", "until", "up", "very", "was", "we", "were",
    "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
    "would", "you", "your", "yours", "yourself", "yourselves",
]


def tokenize(text):
    """Lower-cased words of `text`, punctuation stripped, stop words removed, in order."""
    words = []
    for raw in text.lower().split():
        word = raw.strip(PUNCT)
        if word and word not in STOPWORDS:
            words.append(word)
    return words


def synthetic_corpus(num_docs, words_per_doc, vocab_size=3000, seed=0):
    """Reproducible documents whose word frequencies roughly follow Zipf's law."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "gu"]
    vocab = []
    seen = set()
    while len(vocab) < vocab_size:
        w = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            vocab.append(w)
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(vocab_size)))
    fillers = STOPWORDS[:40]
    docs = []
    for _ in range(num_docs):
        words = rng.choices(vocab, cum_weights=cum_weights, k=words_per_doc)
        for i in range(0, len(words), 4):
            words[i] = rng.choice(fillers) + " " + words[i].capitalize() + rng.choice(",.;")
        docs.append(" ".join(words))
    return docs, vocab


class Index:
    """An inverted index: term -> ids of the documents containing it, ascending."""

    def __init__(self, docs=()):
        self._docs = []
        self._postings = {}
        for doc in docs:
            self.add(doc)

    def __len__(self):
        return len(self._docs)

    def add(self, text):
        """Index one document; returns its id."""
        doc_id = len(self._docs)
        self._docs.append(text)
        for term in tokenize(text):
            plist = self._postings.setdefault(term, [])
            if doc_id not in plist:
                plist.append(doc_id)
        return doc_id

    def document(self, doc_id):
        return self._docs[doc_id]

    def terms(self):
        return sorted(self._postings)

    def postings(self, term):
        return list(self._postings.get(term, ()))

    def document_frequency(self, term):
        return len(self._postings.get(term, ()))

    def search(self, query):
        """Ids of the documents that contain every term of `query`, ascending."""
        terms = tokenize(query)
        if not terms:
            return []
        result = list(self._postings.get(terms[0], ()))
        for term in terms[1:]:
            plist = self._postings.get(term, ())
            result = [d for d in result if d in plist]
        return result
