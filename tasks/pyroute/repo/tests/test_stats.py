import random
import unittest

from pyroute import histogram, moving_median
from pyroute.stats import median


class MedianTest(unittest.TestCase):
    def test_median(self):
        self.assertEqual(median([3, 1, 2]), 2)
        self.assertEqual(median([4, 1, 3, 2]), 2.5)
        with self.assertRaises(ValueError):
            median([])

    def test_moving_median_small(self):
        self.assertEqual(moving_median([5, 1, 4, 2, 3], 3), [4, 2, 3])
        self.assertEqual(moving_median([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])
        self.assertEqual(moving_median([1, 2], 3), [])
        self.assertEqual(moving_median([7, 8], 1), [7, 8])

    def test_moving_median_matches_definition(self):
        rng = random.Random(11)
        xs = [rng.randint(0, 20) for _ in range(200)]
        for w in (1, 2, 5, 8, 17):
            expected = [median(xs[i:i + w]) for i in range(len(xs) - w + 1)]
            self.assertEqual(moving_median(xs, w), expected)

    def test_bad_window(self):
        with self.assertRaises(ValueError):
            moving_median([1, 2], 0)


class HistogramTest(unittest.TestCase):
    def test_histogram(self):
        self.assertEqual(histogram([0, 0.5, 1, 2, 3.9, 4], 4, 0, 4), [2, 1, 1, 2])
        self.assertEqual(histogram([1, 1, 1], 2), [3, 0])
        self.assertEqual(histogram([-1, 5], 2, 0, 4), [0, 0])


if __name__ == "__main__":
    unittest.main()
