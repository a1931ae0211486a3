"""Weighted graphs with shortest-path and connectivity queries."""

import random

INF = float("inf")


class Graph:
    """An adjacency-list graph over nodes 0..n-1 with non-negative integer weights."""

    def __init__(self, n=0):
        self._adj = [[] for _ in range(n)]
        self._edges = 0

    @classmethod
    def random(cls, n, avg_degree, max_weight=100, seed=0):
        """A reproducible random undirected graph: a spanning path plus random chords."""
        rng = random.Random(seed)
        g = cls(n)
        for u in range(1, n):
            g.add_edge(rng.randrange(u), u, rng.randint(1, max_weight))
        extra = max(0, int(n * avg_degree / 2) - (n - 1))
        for _ in range(extra):
            u = rng.randrange(n)
            v = rng.randrange(n)
            if u != v:
                g.add_edge(u, v, rng.randint(1, max_weight))
        return g

    @classmethod
    def random_forest(cls, n, edges, seed=0):
        """A reproducible sparse random graph with `edges` unit-weight undirected edges."""
        rng = random.Random(seed)
        g = cls(n)
        for _ in range(edges):
            u = rng.randrange(n)
            v = rng.randrange(n)
            if u != v:
                g.add_edge(u, v, 1)
        return g

    @property
    def num_nodes(self):
        return len(self._adj)

    @property
    def num_edges(self):
        return self._edges

    def add_node(self):
        self._adj.append([])
        return len(self._adj) - 1

    def add_edge(self, u, v, weight=1, directed=False):
        if weight < 0:
            raise ValueError("negative edge weight")
        n = len(self._adj)
        if not (0 <= u < n and 0 <= v < n):
            raise IndexError("node out of range")
        self._adj[u].append((v, weight))
        if not directed:
            self._adj[v].append((u, weight))
        self._edges += 1

    def neighbors(self, u):
        return [v for v, _ in self._adj[u]]

    def degree(self, u):
        return len(self._adj[u])

    def degree_histogram(self):
        hist = {}
        for edges in self._adj:
            hist[len(edges)] = hist.get(len(edges), 0) + 1
        return dict(sorted(hist.items()))

    # -- shortest paths -------------------------------------------------

    def _dijkstra(self, source):
        n = len(self._adj)
        if not 0 <= source < n:
            raise IndexError("node out of range")
        dist = [INF] * n
        prev = [None] * n
        done = [False] * n
        dist[source] = 0
        frontier = [(0, source)]
        while frontier:
            item = min(frontier)
            frontier.remove(item)
            d, u = item
            if done[u]:
                continue
            done[u] = True
            for v, w in self._adj[u]:
                nd = d + w
                if nd < dist[v]:
                    dist[v] = nd
                    prev[v] = u
                    frontier.append((nd, v))
        return dist, prev

    def shortest_path(self, source):
        """Distances from `source` to every node (None where unreachable)."""
        dist, _ = self._dijkstra(source)
        return [None if d == INF else d for d in dist]

    def path(self, source, target):
        """A shortest path from `source` to `target` as a list of nodes, or None."""
        dist, prev = self._dijkstra(source)
        if dist[target] == INF:
            return None
        out = [target]
        while out[-1] != source:
            out.append(prev[out[-1]])
        out.reverse()
        return out

    # -- connectivity -----------------------------------------------------

    def bfs_order(self, source):
        """Nodes reachable from `source` in breadth-first order."""
        seen = [source]
        order = []
        queue = [source]
        while queue:
            u = queue.pop(0)
            order.append(u)
            for v, _ in self._adj[u]:
                if v not in seen:
                    seen.append(v)
                    queue.append(v)
        return order

    def components(self):
        """Connected components (of the undirected view), each sorted, ordered by smallest node."""
        seen = []
        comps = []
        for s in range(len(self._adj)):
            if s in seen:
                continue
            seen.append(s)
            comp = []
            queue = [s]
            while queue:
                u = queue.pop(0)
                comp.append(u)
                for v, _ in self._adj[u]:
                    if v not in seen:
                        seen.append(v)
                        queue.append(v)
            comp.sort()
            comps.append(comp)
        return comps
