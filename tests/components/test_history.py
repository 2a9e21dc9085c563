"""Training curves are kept as JSON and drawn like the book's figures 4.4 and 4.5."""

import json
import pathlib

from components.history import plot_history, write_history

HISTORY = {"loss": [0.9, 0.5, 0.4], "val_loss": [0.8, 0.6, 0.7], "accuracy": [0.6, 0.8, 0.9]}


def test_history_and_both_plots_are_written(tmp_path):
    write_history(HISTORY, str(tmp_path))
    paths = plot_history(HISTORY, "accuracy", str(tmp_path))
    assert json.loads((tmp_path / "history.json").read_text()) == HISTORY
    assert [p.rsplit("/", 1)[1] for p in paths] == ["loss.png", "accuracy.png"]
    for path in paths:
        assert pathlib.Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
