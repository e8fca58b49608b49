"""Ingest: poll sources, parse, normalise, de-duplicate, store, assign stories."""

from bot.ingest.service import FingerprintIndex, IngestReport, IngestService

__all__ = ["FingerprintIndex", "IngestReport", "IngestService"]
