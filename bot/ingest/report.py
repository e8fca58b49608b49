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

    def merge(self, other: IngestReport) -> IngestReport:
        """Add another report's counts to this one and return self."""
        self.new += other.new
        self.updated += other.updated
        self.duplicate += other.duplicate
        self.failed += other.failed
        self.syndicated += other.syndicated
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
