"""Portfolio import: accounts from CSV or JSON, validated row by row, upserted by
`account_ref` with their time zone and jurisdiction derived."""

from agent.portfolio.importer import ImportReport, Rejection, import_portfolio

__all__ = ["ImportReport", "Rejection", "import_portfolio"]
