"""Ingest: poll sources, parse, normalise, de-duplicate, store, assign stories.

`IngestService` (bot.ingest.service) orchestrates the steps; see its module.
"""

from bot.ingest.fingerprints import FingerprintIndex
from bot.ingest.report import IngestReport
from bot.ingest.service import IngestService

__all__ = ["FingerprintIndex", "IngestReport", "IngestService"]
