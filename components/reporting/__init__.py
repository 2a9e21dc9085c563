"""The report of a pushed version (docs/reports.md): its numbers, its page, its model card."""
