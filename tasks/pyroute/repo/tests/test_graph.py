import unittest

from pyroute import Graph


class ShortestPathTest(unittest.TestCase):
    def test_line_graph(self):
        g = Graph(5)
        for u in range(4):
            g.add_edge(u, u + 1)
        self.assertEqual(g.shortest_path(0), [0, 1, 2, 3, 4])
        self.assertEqual(g.shortest_path(2), [2, 1, 0, 1, 2])

    def test_unreachable(self):
        g = Graph(4)
        g.add_edge(0, 1, 7)
        self.assertEqual(g.shortest_path(0), [0, 7, None, None])
        self.assertIsNone(g.path(0, 3))

    def test_weighted_tree(self):
        g = Graph(6)
        g.add_edge(0, 1, 4)
        g.add_edge(0, 2, 1)
        g.add_edge(2, 3, 2)
        g.add_edge(2, 4, 9)
        g.add_edge(4, 5, 3)
        self.assertEqual(g.shortest_path(0), [0, 4, 1, 3, 10, 13])
        self.assertEqual(g.path(0, 5), [0, 2, 4, 5])

    def test_directed(self):
        g = Graph(3)
        g.add_edge(0, 1, 2, directed=True)
        g.add_edge(1, 2, 2, directed=True)
        self.assertEqual(g.shortest_path(0), [0, 2, 4])
        self.assertEqual(g.shortest_path(2), [None, None, 0])

    def test_unit_weight_grid(self):
        g = Graph(9)
        for r in range(3):
            for c in range(3):
                if c < 2:
                    g.add_edge(3 * r + c, 3 * r + c + 1)
                if r < 2:
                    g.add_edge(3 * r + c, 3 * r + c + 3)
        self.assertEqual(g.shortest_path(0), [0, 1, 2, 1, 2, 3, 2, 3, 4])
        self.assertEqual(len(g.path(0, 8)), 5)

    def test_random_graph_is_reproducible(self):
        a = Graph.random(50, 4, seed=3)
        b = Graph.random(50, 4, seed=3)
        self.assertEqual(a.shortest_path(0), b.shortest_path(0))
        self.assertTrue(all(d is not None for d in a.shortest_path(0)))

    def test_bad_input(self):
        g = Graph(2)
        with self.assertRaises(ValueError):
            g.add_edge(0, 1, -1)
        with self.assertRaises(IndexError):
            g.add_edge(0, 2)
        with self.assertRaises(IndexError):
            g.shortest_path(5)


class ConnectivityTest(unittest.TestCase):
    def test_components(self):
        g = Graph(7)
        g.add_edge(0, 3)
        g.add_edge(3, 5)
        g.add_edge(1, 2)
        self.assertEqual(g.components(), [[0, 3, 5], [1, 2], [4], [6]])

    def test_bfs_order(self):
        g = Graph(6)
        g.add_edge(0, 1)
        g.add_edge(0, 2)
        g.add_edge(1, 3)
        g.add_edge(2, 3)
        g.add_edge(3, 4)
        self.assertEqual(g.bfs_order(0), [0, 1, 2, 3, 4])

    def test_degrees(self):
        g = Graph(3)
        g.add_edge(0, 1)
        g.add_edge(0, 2)
        self.assertEqual(g.degree(0), 2)
        self.assertEqual(g.degree_histogram(), {1: 2, 2: 1})
        self.assertEqual(g.num_edges, 2)
        self.assertEqual(g.add_node(), 3)
        self.assertEqual(g.neighbors(0), [1, 2])


if __name__ == "__main__":
    unittest.main()
