"""Encoder factories the embedding worker tests load by `module:attribute` path in the worker."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence

import numpy as np

from bot.pipeline.encoder import Vectors, normalise_rows

BUSY_CPU_SECONDS = 0.6  # CPU time one `busy` batch burns in the worker


def text_vector(text: str, dim: int = 16) -> Vectors:
    """A deterministic unit vector for a text (from its SHA-256)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return normalise_rows(np.frombuffer(digest[:dim], dtype=np.uint8).astype(np.float32) - 127.5)[0]


class HashEncoder:
    """Hash vectors; a batch holding "busy" burns CPU, one holding "die" kills the process."""

    name = "hash"
    dim = 16

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Rows of `text_vector`, after the requested misbehaviour."""
        if "die" in texts:
            os._exit(3)
        if "busy" in texts:
            until = time.process_time() + BUSY_CPU_SECONDS
            while time.process_time() < until:
                pass
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([text_vector(text, self.dim) for text in texts])


def hash_encoder() -> HashEncoder:
    """Factory of the hash encoder."""
    return HashEncoder()


def missing_weights() -> HashEncoder:
    """A factory failing as an encoder does when its weights file is gone."""
    raise FileNotFoundError("weights.npz not found")
