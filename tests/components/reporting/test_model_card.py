"""The model card (components/reporting/model_card.py): it follows the Model Card Toolkit's
schema v0.0.2 for every kind of report, and says what the report's numbers say."""

import copy

import jsonschema
import numpy as np
import pytest
from sample_reports import SAMPLES, binary_table, multiclass_image

from components.reporting.model_card import model_card, validate


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_kind_of_report_gives_a_valid_card(name):
    card = model_card(SAMPLES[name]())
    validate(card)
    assert card["schema_version"] == "0.0.2"


@pytest.mark.parametrize(
    "break_card",
    [
        lambda card: card.update(owner="me"),  # the schema allows no other top-level key
        lambda card: card["quantitative_analysis"]["performance_metrics"][0].update(value=0.9),
        lambda card: card["model_details"]["version"].update(date="01/12/2026"),
        lambda card: card["model_parameters"].update(data="train, eval, test"),
    ],
    ids=["unknown-key", "number-value", "not-a-date", "data-not-a-list"],
)
def test_a_broken_card_fails_validation(break_card):
    card = copy.deepcopy(model_card(multiclass_image()))
    break_card(card)
    with pytest.raises(jsonschema.ValidationError):
        validate(card)


def test_card_names_the_version_and_its_date():
    details = model_card(multiclass_image())["model_details"]
    assert details["name"] == "fashion_mnist"
    assert details["version"] == {"name": "3", "date": "2026-12-01"}


def test_headline_metric_and_its_interval_are_the_test_score():
    report = multiclass_image()
    confusion = np.array(report["classes"]["confusion"])
    headline = model_card(report)["quantitative_analysis"]["performance_metrics"][0]
    assert headline["type"] == "accuracy" and headline["slice"] == "test"
    assert float(headline["value"]) == pytest.approx(np.trace(confusion) / confusion.sum())
    low = float(headline["confidence_interval"]["lower_bound"])
    high = float(headline["confidence_interval"]["upper_bound"])
    assert low < float(headline["value"]) < high


def test_per_class_recall_slices_match_the_confusion_matrix():
    report = multiclass_image()
    confusion = np.array(report["classes"]["confusion"])
    recalls = {
        m["slice"]: float(m["value"])
        for m in model_card(report)["quantitative_analysis"]["performance_metrics"]
        if m["type"] == "recall"
    }
    expected = np.diag(confusion) / confusion.sum(axis=1)
    assert len(recalls) == 10
    for class_id, name in enumerate(report["classes"]["names"]):
        assert recalls[f"test, label={name}"] == pytest.approx(expected[class_id], rel=1e-5)


def test_limitations_carry_the_data_warnings_and_the_threshold_its_tradeoff():
    report = binary_table()
    considerations = model_card(report)["considerations"]
    limitations = [item["description"] for item in considerations["limitations"]]
    for warning in report["data"]["warnings"]:
        assert f"Data: {warning}" in limitations
    assert any("taken for" in line for line in limitations)
    assert f"{report['threshold']['live']:.4g}" in considerations["tradeoffs"][0]["description"]
