"""Graph algorithms over diagram elements, iterative so that long diagrams cannot overflow."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

Node = TypeVar("Node", bound=Hashable)


def strongly_connected(
    nodes: Iterable[Node], edges: Mapping[Node, Sequence[Node]]
) -> list[list[Node]]:
    """Return the strongly connected components of a directed graph (Tarjan, no recursion).

    Each component lists its nodes; components come in reverse topological order. Edges to
    nodes outside ``nodes`` are followed too, so pass only edges between known nodes.
    """
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    on_stack: set[Node] = set()
    stack: list[Node] = []
    components: list[list[Node]] = []

    def visit(node: Node) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in nodes:
        if root in index:
            continue
        visit(root)
        work = [(root, iter(edges.get(root, ())))]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    visit(successor)
                    work.append((successor, iter(edges.get(successor, ()))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[Node] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def is_cycle(component: Sequence[Node], edges: Mapping[Node, Sequence[Node]]) -> bool:
    """Return whether a strongly connected component is a cycle (two nodes or a self-loop)."""
    return len(component) > 1 or component[0] in edges.get(component[0], ())


def path_back(start: Node, edges: Mapping[Node, Sequence[Node]], within: set[Node]) -> list[Node]:
    """Return a shortest path from start back to start through nodes of within (breadth-first)."""
    came_from: dict[Node, Node] = {}
    queue: deque[Node] = deque([start])
    while queue:
        node = queue.popleft()
        for successor in edges.get(node, ()):
            if successor not in within:
                continue
            if successor == start:
                path = [start]
                while node != start:
                    path.append(node)
                    node = came_from[node]
                return [start, *reversed(path[1:]), start]
            if successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    return []
