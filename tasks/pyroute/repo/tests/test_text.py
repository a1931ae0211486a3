import unittest

from pyroute import Index, tokenize
from pyroute.text import synthetic_corpus


class TokenizeTest(unittest.TestCase):
    def test_basic(self):
        self.assertEqual(tokenize("The quick, brown Fox!"), ["quick", "brown", "fox"])

    def test_stopwords_and_punctuation(self):
        self.assertEqual(tokenize("It is (not) what you think... 42"), ["think"])
        self.assertEqual(tokenize(""), [])

    def test_keeps_order_and_repeats(self):
        self.assertEqual(tokenize("b a b c b"), ["b", "b", "c", "b"])


class IndexTest(unittest.TestCase):
    def setUp(self):
        self.index = Index([
            "Red apples and green pears",
            "green apples, red apples",
            "A pear is not an apple",
            "bananas",
        ])

    def test_postings(self):
        self.assertEqual(self.index.postings("apples"), [0, 1])
        self.assertEqual(self.index.postings("red"), [0, 1])
        self.assertEqual(self.index.document_frequency("bananas"), 1)
        self.assertEqual(self.index.document_frequency("kiwi"), 0)

    def test_search(self):
        self.assertEqual(self.index.search("red apples"), [0, 1])
        self.assertEqual(self.index.search("green pears"), [0])
        self.assertEqual(self.index.search("apple pear"), [2])
        self.assertEqual(self.index.search("kiwi red"), [])
        self.assertEqual(self.index.search("the"), [])

    def test_add_returns_ids(self):
        self.assertEqual(self.index.add("kiwi"), 4)
        self.assertEqual(len(self.index), 5)
        self.assertEqual(self.index.document(4), "kiwi")
        self.assertEqual(self.index.search("kiwi"), [4])

    def test_synthetic_corpus(self):
        docs, vocab = synthetic_corpus(20, 30, vocab_size=100, seed=1)
        self.assertEqual(len(docs), 20)
        index = Index(docs)
        for term in index.terms()[:20]:
            plist = index.postings(term)
            self.assertEqual(plist, sorted(set(plist)))
            for d in plist:
                self.assertIn(term, tokenize(docs[d]))


if __name__ == "__main__":
    unittest.main()
