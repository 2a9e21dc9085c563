"""Publishes a version's report folder whole: `report.json` (the numbers), `report.html` (the
page) and `model_card.json` (the Model Card Toolkit's schema), in one rename.

    write_report_folder("<home>/reports/fashion_mnist/3", report, {"loss.png": png_bytes})
"""

import json
import os

import tensorflow as tf

from components.reporting import html, model_card
from contract.report_files import MODEL_CARD_JSON, REPORT_HTML, REPORT_JSON
from contract.versions import publish_folder


def write_report_folder(target_dir: str, report: dict, figures: dict[str, bytes]) -> str:
    """Writes the report folder `target_dir` (e.g. `<home>/reports/<model>/<version>`).

    Args:
        report: the numbers (docs/reports.md, "report.json").
        figures: PNG files to embed in the page, by name (the Trainer's curves).

    Returns:
        `target_dir`.

    A folder already at `target_dir` is of an earlier model with the same version number (the
    serving folder was emptied and numbering restarted), or of this one when the step reran
    after a crash: it is replaced, whole, by the new one.

    Raises:
        jsonschema.ValidationError: the model card does not follow the Model Card Toolkit's schema.
    """
    card = model_card.model_card(report)
    model_card.validate(card)
    page = html.render_html(report, figures)

    def fill(staging: str) -> None:
        texts = {
            REPORT_JSON: json.dumps(report, indent=1),
            MODEL_CARD_JSON: json.dumps(card, indent=1),
            REPORT_HTML: page,
        }
        for name, text in texts.items():
            with tf.io.gfile.GFile(os.path.join(staging, name), "w") as f:
                f.write(text)

    target_dir = target_dir.rstrip("/")
    tf.io.gfile.makedirs(os.path.dirname(target_dir))
    if tf.io.gfile.exists(target_dir):
        parent, name = os.path.split(target_dir)
        stale = os.path.join(parent, f".replaced-{name}-{os.getpid()}")
        tf.io.gfile.rename(target_dir, stale, overwrite=True)
        tf.io.gfile.rmtree(stale)
    return publish_folder(target_dir, fill)
