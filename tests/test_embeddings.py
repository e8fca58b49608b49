"""Encoder helpers (lead, embedding text, compact vector bytes) and the off-loop embedding worker."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.embeddings import Embedder, load_encoder
from bot.pipeline.encoder import (
    LEAD_CHARS,
    Encoder,
    embedding_text,
    lead_of,
    normalise_rows,
    pack_vector,
    pack_vectors,
    unpack_vector,
    unpack_vectors,
)
from tests.embed_fakes import BUSY_CPU_SECONDS, HashEncoder, text_vector

HASH = "tests.embed_fakes:hash_encoder"


# ---------------------------------------------------------------- pure helpers
def test_lead_is_the_first_two_sentences() -> None:
    """The lead is the body's first two sentences."""
    body = "The ministry raised prices. Drivers queued at stations. Unions called a strike."
    assert lead_of(body) == "The ministry raised prices. Drivers queued at stations."
    assert lead_of("رفعت الوزارة الأسعار. اصطف السائقون. دعت النقابات إلى إضراب.") == (
        "رفعت الوزارة الأسعار. اصطف السائقون."
    )


def test_lead_is_cut_at_a_word_boundary() -> None:
    """A long lead is cut to LEAD_CHARS at a space, never mid-word."""
    body = " ".join(["word"] * 200) + "."
    lead = lead_of(body)
    assert len(lead) <= LEAD_CHARS
    assert set(lead.split()) == {"word"}
    assert lead_of("") == ""


def test_embedding_text_is_headline_and_lead() -> None:
    """Headline (whitespace squeezed), newline, lead; the given lede wins over the body."""
    assert embedding_text("  Fuel  prices\nrise ", "Prices rose. Queues grew. More.") == (
        "Fuel prices rise\nPrices rose. Queues grew."
    )
    assert embedding_text("Title", "Body one. Body two.", lede="The lede.") == "Title\nThe lede."
    assert embedding_text("Only a title") == "Only a title"


def test_packed_vectors_are_compact_and_keep_cosines() -> None:
    """517 bytes for 512 dims; cosines between unpacked vectors stay within 0.01 of float32."""
    rng = np.random.default_rng(7)
    rows = normalise_rows(rng.normal(size=(50, 512)))
    blobs = pack_vectors(rows)
    assert {len(blob) for blob in blobs} == {517}
    back = unpack_vectors(blobs)
    assert back.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-5)
    assert np.max(np.abs(back @ back.T - rows @ rows.T)) < 0.01


def test_pack_handles_zero_vector_and_rejects_unknown_bytes() -> None:
    """A zero vector round-trips as zeros; short or foreign bytes are refused."""
    assert not np.any(unpack_vector(pack_vector(np.zeros(8, dtype=np.float32))))
    with pytest.raises(ValueError):
        unpack_vector(b"\x01")
    with pytest.raises(ValueError):
        unpack_vector(b"\x09" + pack_vector(np.ones(4))[1:])
    assert unpack_vectors([]).shape == (0, 0)


# ---------------------------------------------------------------- loading
def test_load_encoder_reports_why_it_cannot_load() -> None:
    """Unknown names, missing modules and missing weights give None and a reason."""
    encoder, reason = load_encoder("no-such-encoder")
    assert encoder is None and "unknown encoder 'no-such-encoder'" in reason
    encoder, reason = load_encoder("akhbar_no_such_module:factory")
    assert encoder is None and "ModuleNotFoundError" in reason
    encoder, reason = load_encoder("tests.embed_fakes:missing_weights")
    assert encoder is None and "FileNotFoundError: weights.npz not found" in reason
    encoder, reason = load_encoder(HASH)
    assert isinstance(encoder, HashEncoder) and isinstance(encoder, Encoder) and reason == ""


# ---------------------------------------------------------------- the worker
async def test_missing_model_falls_back_to_lexical_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without a model the embedder is off, returns None, and logs the reason once."""
    caplog.set_level(logging.WARNING, logger="bot.embeddings")
    embedder = Embedder("tests.embed_fakes:missing_weights")
    status = await embedder.start()
    try:
        assert not status.available
        assert "FileNotFoundError: weights.npz not found" in status.reason
        assert await embedder.embed_many(["a headline"]) is None
        assert await embedder.embed_many(["another"]) is None
    finally:
        await embedder.close()
    warnings = [r for r in caplog.records if "lexical features only" in r.getMessage()]
    assert len(warnings) == 1 and "weights.npz" in warnings[0].getMessage()


async def test_concurrent_requests_get_their_own_rows() -> None:
    """Concurrent calls, coalesced into batches, each get the rows of their own texts."""
    embedder = Embedder(HASH, batch_size=4)
    status = await embedder.start()
    assert status.available and status.encoder == "hash" and status.dim == 16
    try:
        requests = [[f"text {i}-{j}" for j in range(i % 3 + 1)] for i in range(12)]
        results = await asyncio.gather(*(embedder.embed_many(texts) for texts in requests))
        for texts, rows in zip(requests, results, strict=True):
            assert rows is not None
            np.testing.assert_allclose(rows, np.stack([text_vector(t) for t in texts]), atol=1e-6)
        empty = await embedder.embed_many([])
        assert empty is not None and empty.shape == (0, 16)
    finally:
        await embedder.close()


async def test_close_finishes_pending_batches_then_turns_off() -> None:
    """Requests queued before `close` get their rows; after it, embeddings are off."""
    embedder = Embedder(HASH, batch_size=2)
    await embedder.start()
    tasks = [asyncio.ensure_future(embedder.embed_many([f"t{i}"])) for i in range(5)]
    await asyncio.sleep(0)  # the requests are queued, the first batch is in the worker
    await embedder.close()
    for i, rows in enumerate(await asyncio.gather(*tasks)):
        assert rows is not None
        np.testing.assert_allclose(rows[0], text_vector(f"t{i}"), atol=1e-6)
    assert embedder.status.reason == "closed" and not embedder.status.available
    assert await embedder.embed_many(["later"]) is None


async def _ticks_while(work: asyncio.Future[object] | asyncio.Task[object]) -> int:
    """How many 10 ms ticks a concurrent ticker makes while `work` runs."""
    ticks = 0
    while not work.done():
        await asyncio.sleep(0.01)
        ticks += 1
    await work
    return ticks


async def test_event_loop_keeps_ticking_while_a_batch_embeds() -> None:
    """A batch that burns CPU in the worker leaves the loop free: a ticker keeps ticking."""
    embedder = Embedder(HASH)
    await embedder.start()
    try:
        started = time.perf_counter()
        task = asyncio.ensure_future(embedder.embed_many(["busy", "a", "b"]))
        ticks = await _ticks_while(task)
        elapsed = time.perf_counter() - started
        rows = task.result()
        assert rows is not None and rows.shape == (3, 16)
        assert elapsed >= BUSY_CPU_SECONDS * 0.9
        assert ticks >= 10
    finally:
        await embedder.close()
    # The same work on the loop itself starves the ticker: the check above can fail.
    encoder = HashEncoder()

    async def inline() -> object:
        return encoder.embed(["busy"])

    assert await _ticks_while(asyncio.ensure_future(inline())) <= 1


async def test_worker_death_turns_embeddings_off(caplog: pytest.LogCaptureFixture) -> None:
    """If the worker process dies, callers get None and embeddings stay off, said once."""
    caplog.set_level(logging.WARNING, logger="bot.embeddings")
    embedder = Embedder(HASH)
    await embedder.start()
    try:
        assert await embedder.embed_many(["die"]) is None
        assert not embedder.status.available
        assert "worker died" in embedder.status.reason
        assert await embedder.embed_many(["fine"]) is None
    finally:
        await embedder.close()
    assert sum("lexical features only" in r.getMessage() for r in caplog.records) == 1


async def test_real_encoder_links_a_translation_off_loop() -> None:
    """The default encoder, in the worker: a headline is closest to its translation."""
    embedder = Embedder()
    status = await embedder.start()
    if not status.available:
        await embedder.close()
        pytest.skip(f"default encoder unavailable: {status.reason}")
    try:
        rows = await embedder.embed_many(
            [
                "Energy ministry raises petrol and diesel prices by 8 percent",
                "وزارة الطاقة ترفع أسعار البنزين والديزل بنسبة 8 بالمئة",
                "Football club signs a new striker before the derby",
            ]
        )
    finally:
        await embedder.close()
    assert rows is not None and rows.shape == (3, status.dim)
    assert float(rows[0] @ rows[1]) > float(rows[0] @ rows[2]) + 0.2


_ORPHAN_SCRIPT = """
import asyncio
from bot.embeddings import Embedder

async def main():
    embedder = Embedder("tests.embed_fakes:hash_encoder")
    await embedder.start()
    print(*embedder._pool._processes, flush=True)
    await asyncio.sleep(60)

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_worker_ends_when_the_bot_process_is_killed(tmp_path: Path) -> None:
    """A bot killed outright (SIGKILL) leaves no embedding worker behind."""
    script = tmp_path / "bot_process.py"
    script.write_text(_ORPHAN_SCRIPT, encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    bot = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=root, env=env
    )
    try:
        assert bot.stdout is not None
        worker = int(bot.stdout.readline().split()[0])
        bot.send_signal(signal.SIGKILL)
        bot.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(worker):
            time.sleep(0.1)
        assert not _alive(worker)
    finally:
        if bot.poll() is None:
            bot.kill()


def _alive(pid: int) -> bool:
    """Whether a process (not a zombie) exists."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
