"""What one ingest run did (counts, new article ids, error lines)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did; `syndicated` counts new articles linked to an original."""

    new: int = 0
    updated: int = 0
    duplicate: int = 0
    failed: int = 0
    new_article_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    syndicated: int = 0
    pages_tried: int = 0  # article pages fetched for a section page or a feed's full text
    pages_failed: int = 0  # of those, the ones whose article could not be read

    @property
    def pages_all_failed(self) -> bool | None:
        """Whether every article page tried failed (None when none was tried)."""
        if self.pages_tried == 0:
            return None
        return self.pages_failed >= self.pages_tried

    def merge(self, other: IngestReport) -> IngestReport:
        """Add another report's counts to this one and return self."""
        self.new += other.new
        self.updated += other.updated
        self.duplicate += other.duplicate
        self.failed += other.failed
        self.syndicated += other.syndicated
        self.pages_tried += other.pages_tried
        self.pages_failed += other.pages_failed
        self.new_article_ids.extend(other.new_article_ids)
        self.errors.extend(other.errors)
        return self

    def fail(self, error: str) -> IngestReport:
        """Count one failed item with its error line and return self."""
        self.failed += 1
        self.errors.append(error)
        return self

    def summary_line(self) -> str:
        """The one-line summary printed by the CLI."""
        return (
            f"new {self.new}, updated {self.updated}, "
            f"duplicate {self.duplicate}, failed {self.failed}"
        )
