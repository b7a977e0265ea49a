"""Prefix trees over token-id sequences (the allowed values of one metadata field)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class TrieNode:
    """One position in the tree: the tokens allowed next and where each leads."""

    __slots__ = ("children", "_ids")

    def __init__(self) -> None:
        self.children: dict[int, TrieNode] = {}
        self._ids: torch.Tensor | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def allowed_ids(self) -> torch.Tensor:
        """[n] long tensor of the next allowed token ids (built once, then reused)."""
        if self._ids is None:
            self._ids = torch.tensor(sorted(self.children), dtype=torch.long)
        return self._ids


class TokenTrie:
    """Token-id sequences sharing prefixes. Keyed by ids, not strings, so it captures how the
    tokenizer merges the leading space into the value (e.g. ' G' + ' major')."""

    def __init__(self) -> None:
        self.root = TrieNode()
        self.size = 0

    def add(self, ids: Sequence[int]) -> None:
        node = self.root
        for token in ids:
            node = node.children.setdefault(int(token), TrieNode())
        self.size += 1
