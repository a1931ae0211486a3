import unittest

from textstats import Corpus, normalize, words

DOCS = [
    "The cat sat on the mat.",
    "A dog -- and a CAT! -- met on the road (2 times).",
    "Dogs' toys aren't the cat's toys; the dog's are.",
    "",
    "the the the",
]


class NormalizeTest(unittest.TestCase):
    def test_normalize(self):
        self.assertEqual(normalize("  Hello,   World!! "), "hello world")
        self.assertEqual(normalize("It's 'quoted' -- ok"), "it's quoted ok")
        self.assertEqual(normalize("42 ... !"), "")
        self.assertEqual(words(normalize("Aren't THEY?")), ["aren't", "they"])


class CorpusTest(unittest.TestCase):
    def setUp(self):
        self.corpus = Corpus(DOCS)

    def test_documents(self):
        self.assertEqual(len(self.corpus), 5)
        self.assertEqual(self.corpus.document(0), "the cat sat on the mat")
        self.assertEqual(self.corpus.document(3), "")
        self.assertEqual(self.corpus.document_length(1), 10)
        self.assertEqual(self.corpus.document_length(3), 0)
        self.assertEqual(self.corpus.num_words(), 6 + 10 + 9 + 0 + 3)

    def test_word_frequency(self):
        self.assertEqual(self.corpus.word_frequency("the"), 2 + 1 + 2 + 3)
        self.assertEqual(self.corpus.word_frequency("CAT"), 2)
        self.assertEqual(self.corpus.word_frequency("cat's"), 1)
        self.assertEqual(self.corpus.word_frequency("dogs"), 1)
        self.assertEqual(self.corpus.word_frequency("unicorn"), 0)
        self.assertEqual(self.corpus.word_frequency("the cat"), 0)
        self.assertEqual(self.corpus.word_frequency(""), 0)

    def test_docs_containing(self):
        self.assertEqual(self.corpus.docs_containing("the"), [0, 1, 2, 4])
        self.assertEqual(self.corpus.docs_containing("Cat"), [0, 1])
        self.assertEqual(self.corpus.docs_containing("toys"), [2])
        self.assertEqual(self.corpus.docs_containing("zebra"), [])
        self.assertEqual(self.corpus.document_frequency("on"), 2)
        hits = self.corpus.docs_containing("the")
        hits.append(99)  # a copy: changing it changes nothing inside
        self.assertEqual(self.corpus.docs_containing("the"), [0, 1, 2, 4])

    def test_cooccurrence(self):
        self.assertEqual(self.corpus.cooccurrence("cat", "on"), 2)
        self.assertEqual(self.corpus.cooccurrence("the", "dog"), 1)
        self.assertEqual(self.corpus.cooccurrence("cat", "zebra"), 0)
        self.assertEqual(self.corpus.cooccurrence("the", "the"), 4)

    def test_top_words(self):
        self.assertEqual(self.corpus.top_words(3), [("the", 8), ("a", 2), ("cat", 2)])
        self.assertEqual(self.corpus.top_words(2, min_length=4), [("toys", 2), ("aren't", 1)])
        self.assertEqual(self.corpus.top_words(0), [])
        self.assertEqual(len(self.corpus.top_words(1000)), len(self.corpus.vocabulary()))

    def test_vocabulary(self):
        vocab = self.corpus.vocabulary()
        self.assertEqual(vocab, sorted(set(vocab)))
        self.assertIn("aren't", vocab)
        self.assertIn("dog's", vocab)
        self.assertNotIn("", vocab)
        self.assertEqual(len(vocab), 17)

    def test_empty_corpus(self):
        empty = Corpus([])
        self.assertEqual(len(empty), 0)
        self.assertEqual(empty.num_words(), 0)
        self.assertEqual(empty.top_words(5), [])
        self.assertEqual(empty.docs_containing("a"), [])
        self.assertEqual(empty.word_frequency("a"), 0)

    def test_accepts_any_iterable(self):
        corpus = Corpus(doc for doc in DOCS[:2])
        self.assertEqual(len(corpus), 2)
        self.assertEqual(corpus.word_frequency("cat"), 2)


if __name__ == "__main__":
    unittest.main()
