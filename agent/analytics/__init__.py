"""Collection analytics: per-day figures for one tenant (issue 7)."""

from agent.analytics.figures import collection_figures, csv_rows

__all__ = ["collection_figures", "csv_rows"]
