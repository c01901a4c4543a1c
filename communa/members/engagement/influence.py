"""Influence in the reply network, the pure part: weighted PageRank, sampled betweenness, bridges.

Nodes are members; an edge is "u replied to v" (weight: how often, helpful replies counting more). Two
views of it:
- influence: PageRank where attention flows to who gets replied to, and an asker's gratitude flows to who
  helped them (ExpertiseRank, Zhang et al. 2007): someone who helps people who themselves help others
  ranks above someone who answers many one-off visitors;
- bridges: betweenness centrality (Brandes, with sampled sources, on the undirected network of the most
  connected members) combined with how evenly a member's ties spread over groups (languages or platforms):
  the people through whom otherwise separate groups talk.

numpy only (power iteration with sparse products through bincount), so a network of a million members fits in seconds.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter, defaultdict, deque
from collections.abc import Sequence

import numpy as np

DAMPING = 0.85
PAGERANK_ITERATIONS = 60
PAGERANK_TOLERANCE = 1e-9
# Betweenness is computed on the most connected members only, from sampled sources: it is the expensive part.
BETWEENNESS_NODES = 3000
BETWEENNESS_SOURCES = 200


@dataclasses.dataclass(frozen=True, slots=True)
class Edge:
    source: int  # who replied
    target: int  # to whom
    weight: float  # plain replies count 1, helpful replies more
    helpful: bool = False


def pagerank(edges: Sequence[Edge], *, gratitude: float = 3.0) -> dict[int, float]:
    """Weighted PageRank (sums to 1 over the nodes in the edges). Each reply u→v sends attention to v; each
    helpful reply also sends the asker's gratitude v→u, `gratitude` times heavier."""
    nodes = sorted({e.source for e in edges} | {e.target for e in edges})
    if not nodes:
        return {}
    index = {node: i for i, node in enumerate(nodes)}
    rows, cols, data = [], [], []
    for e in edges:
        if e.source == e.target:
            continue
        rows.append(index[e.source])
        cols.append(index[e.target])
        data.append(e.weight)
        if e.helpful:
            rows.append(index[e.target])
            cols.append(index[e.source])
            data.append(e.weight * gratitude)
    n = len(nodes)
    src, dst, weight = np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(data)
    out = np.bincount(src, weights=weight, minlength=n)
    dangling = out == 0
    share = weight / out[src]  # the part of src's rank that flows along each edge
    rank = np.full(n, 1.0 / n)
    for _ in range(PAGERANK_ITERATIONS):
        spread = np.bincount(dst, weights=share * rank[src], minlength=n)  # a sparse matrix-vector product
        following = DAMPING * (spread + rank[dangling].sum() / n) + (1.0 - DAMPING) / n
        converged = np.abs(following - rank).sum() < PAGERANK_TOLERANCE
        rank = following
        if converged:
            break
    return {node: float(rank[i]) for node, i in index.items()}


def neighbours(edges: Sequence[Edge]) -> dict[int, Counter[int]]:
    """Undirected ties: member → {other member: interactions}."""
    ties: dict[int, Counter[int]] = defaultdict(Counter)
    for e in edges:
        if e.source != e.target:
            ties[e.source][e.target] += 1
            ties[e.target][e.source] += 1
    return ties


def betweenness(
    ties: dict[int, Counter[int]],
    *,
    max_nodes: int = BETWEENNESS_NODES,
    sources: int = BETWEENNESS_SOURCES,
    seed: int = 0,
    deadline: float | None = None,
) -> dict[int, float]:
    """Betweenness (Brandes 2001, unweighted, undirected), normalised to [0, 1], estimated from `sources`
    random sources on the `max_nodes` most connected members. Stops early at `deadline` (time.monotonic)."""
    kept = sorted(ties, key=lambda n: (-sum(ties[n].values()), n))[:max_nodes]
    keep = set(kept)
    graph = {n: [m for m in ties[n] if m in keep] for n in kept}
    if len(kept) < 3:
        return dict.fromkeys(kept, 0.0)
    rng = random.Random(seed)  # noqa: S311 - sampling, not secrets: a fixed seed keeps runs reproducible
    pivots = kept if len(kept) <= sources else rng.sample(kept, sources)
    centrality = dict.fromkeys(kept, 0.0)
    done = 0
    for s in pivots:
        if deadline is not None and time.monotonic() > deadline:
            break
        _accumulate(graph, s, centrality)
        done += 1
    n = len(kept)
    scale = (n / max(done, 1)) / ((n - 1) * (n - 2))  # undirected pairs counted twice; sample → total
    return {node: value * scale for node, value in centrality.items()}


def _accumulate(graph: dict[int, list[int]], s: int, centrality: dict[int, float]) -> None:
    stack: list[int] = []
    preds: dict[int, list[int]] = defaultdict(list)
    sigma: dict[int, float] = defaultdict(float)
    sigma[s] = 1.0
    dist = {s: 0}
    queue = deque([s])
    while queue:
        v = queue.popleft()
        stack.append(v)
        for w in graph[v]:
            if w not in dist:
                dist[w] = dist[v] + 1
                queue.append(w)
            if dist[w] == dist[v] + 1:
                sigma[w] += sigma[v]
                preds[w].append(v)
    delta: dict[int, float] = defaultdict(float)
    while stack:
        w = stack.pop()
        for v in preds[w]:
            delta[v] += sigma[v] / sigma[w] * (1.0 + delta[w])
        if w != s:
            centrality[w] += delta[w]


@dataclasses.dataclass(frozen=True, slots=True)
class Bridge:
    member: int
    score: float
    betweenness: float
    groups: list[tuple[str, int]]  # the groups it connects, with interactions, strongest first


def bridges(
    ties: dict[int, Counter[int]], groups: dict[int, str], centrality: dict[int, float], *, min_share: float = 0.2
) -> list[Bridge]:
    """Members whose ties reach at least two groups, each with `min_share` of their interactions, ranked by
    betweenness times how evenly the ties spread (1 - the largest group's share); a member's own group counts
    as one of the groups it connects."""
    found = []
    for member, value in centrality.items():
        per_group: Counter[str] = Counter()
        for other, count in ties.get(member, Counter()).items():
            group = groups.get(other, "")
            if group:
                per_group[group] += count
        total = sum(per_group.values())
        if total < 4:
            continue
        strong = [(g, c) for g, c in per_group.most_common() if c / total >= min_share]
        if len(strong) < 2:
            continue
        evenness = 1.0 - strong[0][1] / total
        found.append(Bridge(member, (value + 1e-6) * evenness, value, strong))
    return sorted(found, key=lambda b: (-b.score, b.member))
