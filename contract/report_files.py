"""A version's report folder, `<home>/reports/<model>/<version>/` (docs/reports.md): written by
the pipeline's ModelReportGen, served read-only by `dlwp serve` at `/reports/<model>/<version>/`."""

REPORT_HTML = "report.html"  # the page: one self-contained file
REPORT_JSON = "report.json"  # the numbers every renderer reads
MODEL_CARD_JSON = "model_card.json"  # the Model Card Toolkit's schema (contract/schemas/)
REPORT_FILES = (REPORT_HTML, REPORT_JSON, MODEL_CARD_JSON)
