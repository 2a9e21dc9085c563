"""Hand-built report.json dicts (docs/reports.md), one per kind of task, with consistent numbers:
each is computed from seeded numpy labels and predictions, so a test can recount what the page
shows from the same arrays without going through the code under test.

    report = multiclass_image()
    labels, scores = binary_arrays("binary_table")   # what binary_table()'s test numbers came from
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image
from scipy import stats
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

from components.sources import BOSTON_COLUMNS
from pipelines.tasks import FASHION_MNIST_CLASSES as TASK_FASHION_MNIST_CLASSES

FASHION_MNIST_CLASSES = list(TASK_FASHION_MNIST_CLASSES)
FRAUD_COLUMNS = ["amount", "merchant", "hour", "country"]
GRID = [round(0.05 * i, 2) for i in range(1, 20)]
CREATED = "2026-12-01T19:00:00+00:00"


def png_data_uri(pixels: np.ndarray, scale: int = 4) -> str:
    """A data: URI of a grey PNG of `pixels` (uint8, HxW), upscaled `scale` times (nearest)."""
    image = Image.fromarray(pixels.astype(np.uint8), "L")
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figures() -> dict[str, bytes]:
    """Two small PNGs standing in for the Trainer's curves (loss.png, accuracy.png)."""
    out = {}
    for name, seed in (("loss.png", 1), ("accuracy.png", 2)):
        pixels = np.random.default_rng(seed).integers(0, 255, (60, 90), dtype=np.uint8)
        image = Image.fromarray(pixels, "L")
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        out[name] = buffer.getvalue()
    return out


def _wilson(right: int, n: int) -> tuple[float, float]:
    interval = stats.binomtest(right, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def _bootstrap(statistic, *arrays) -> tuple[float, float]:
    result = stats.bootstrap(
        arrays,
        statistic,
        paired=True,
        vectorized=False,
        n_resamples=200,
        method="percentile",
        random_state=np.random.default_rng(0),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _classes(labels: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict:
    k = len(names)
    confusion = confusion_matrix(labels, predicted, labels=list(range(k)))
    precision, recall, _, support = precision_recall_fscore_support(
        labels, predicted, labels=list(range(k)), zero_division=0
    )
    off = [
        (int(confusion[t, p]), t, p)
        for t in range(k)
        for p in range(k)
        if t != p and confusion[t, p]
    ]
    off.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return {
        "names": names,
        "support": support.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "confusion": confusion.tolist(),
        "most_confused": [{"true": t, "predicted": p, "count": c} for c, t, p in off[:5]],
    }


def _data(splits: dict, balance: dict | None, columns=None, warnings=(), anomalies=()) -> dict:
    return {
        "splits": splits,
        "class_balance": balance,
        "columns": columns,
        "warnings": list(warnings),
        "anomalies": list(anomalies),
    }


def _exports(metric: str, value: float) -> dict:
    return {
        "tflite": {
            "size_bytes": 1_612_345,
            "gzip_bytes": 1_480_002,
            "metric": value - 0.0004,
            "delta": -0.0004,
            "published": True,
            "reason": None,
        },
        "tfjs": {
            "size_bytes": 1_650_000,
            "gzip_bytes": 1_502_113,
            "metric": None,
            "delta": None,
            "published": False,
            "reason": "tensorflowjs is not installed",
        },
    }


def multiclass_image() -> dict:
    """Fashion-MNIST: 1000 test images, 10 classes, shirts often taken for T-shirts."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)
    predicted = labels.copy()
    wrong = rng.random(labels.size) < 0.11
    predicted[wrong] = rng.integers(0, 10, wrong.sum())
    shirts = np.flatnonzero(labels == 6)[:15]
    predicted[shirts] = 0
    n, right = labels.size, int(np.sum(predicted == labels))
    low, high = _wilson(right, n)
    classes = _classes(labels, predicted, FASHION_MNIST_CLASSES)
    wrong_ids = np.flatnonzero(predicted != labels)[:6]
    examples = []
    for rank, i in enumerate(wrong_ids, start=1):
        pixels = np.zeros((28, 28), np.uint8)
        pixels[4 + rank : 24, 6:22] = 40 * rank
        examples.append(
            {
                "rank": rank,
                "true": FASHION_MNIST_CLASSES[labels[i]],
                "predicted": FASHION_MNIST_CLASSES[predicted[i]],
                "confidence": round(0.99 - 0.03 * rank, 4),
                "error": None,
                "image_png": png_data_uri(pixels),
                "words": None,
                "row": None,
            }
        )
    return {
        "schema_version": 1,
        "model": "fashion_mnist",
        "version": 3,
        "created": CREATED,
        "task": {
            "problem_type": "multiclass",
            "label": "label",
            "metric": "accuracy",
            "higher_is_better": True,
            "class_names": FASHION_MNIST_CLASSES,
            "features": [{"name": "image", "kind": "image"}],
        },
        "success": {
            "metric": "accuracy",
            "test": right / n,
            "low": low,
            "high": high,
            "confidence": 0.95,
            "method": "wilson",
            "right": right,
            "examples": n,
            "baseline": {"name": "majority_class_accuracy", "test": 0.1},
            "last_blessed": {"version": 2, "test": 0.8801},
            "simple_models": None,
        },
        "classes": classes,
        "threshold": None,
        "regression": None,
        "failure_modes": {"kind": "image", "examples": examples},
        "training": {
            "protocol": "holdout",
            "epochs": 12,
            "eval": 0.8953,
            "folds": None,
            "fold_mean": None,
            "fold_std": None,
            "figures": ["loss.png", "accuracy.png"],
        },
        "data": _data(
            {"train": 50_000, "eval": 10_000, "test": n},
            {
                "train": [5000] * 10,
                "eval": [1000] * 10,
                "test": np.bincount(labels, minlength=10).tolist(),
            },
        ),
        "exports": _exports("accuracy", right / n),
    }


def binary_arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The seeded test labels and scores (of class 1) that the binary sample `name` reports on."""
    seed, n, positive_rate = {"binary_table": (7, 400, 0.3), "word_sequence": (8, 300, 0.5)}[name]
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < positive_rate).astype(int)
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1.3, n) + 1.5 * (2 * labels - 1))))
    return labels, np.round(scores, 6)


def _rates(labels: np.ndarray, scores: np.ndarray, threshold: float, per_day: float) -> dict:
    flagged = scores > threshold
    positives, negatives = labels == 1, labels == 0
    tp = int(np.sum(flagged & positives))
    fp = int(np.sum(flagged & negatives))
    fn = int(np.sum(~flagged & positives))
    n = labels.size
    return {
        "threshold": threshold,
        "fpr": fp / negatives.sum(),
        "fnr": fn / positives.sum(),
        "recall": tp / positives.sum(),
        "precision": tp / (tp + fp) if tp + fp else None,
        "false_positives_per_day": per_day * fp / n,
        "false_negatives_per_day": per_day * fn / n,
        "flagged_per_day": per_day * (tp + fp) / n,
    }


def _threshold(name: str, rule: dict, per_day: int) -> dict:
    """The threshold object: chosen on a separate seeded eval set, tabulated on test."""
    labels, scores = binary_arrays(name)
    rng = np.random.default_rng(99)
    eval_labels = (rng.random(113) < labels.mean()).astype(int)
    eval_scores = 1 / (1 + np.exp(-(rng.normal(0, 1.3, 113) + 1.5 * (2 * eval_labels - 1))))
    if rule["kind"] == "target_fpr":
        live = float(np.quantile(eval_scores[eval_labels == 0], 1 - rule["value"], method="higher"))
    elif rule["kind"] == "target_recall":
        live = float(np.quantile(eval_scores[eval_labels == 1], rule["value"], method="lower"))
    else:
        live = rule["value"]
    live = float(np.ceil(live * 1e4) / 1e4)  # rounded up: keeps the rule on eval
    eval_row = _rates(eval_labels, eval_scores, live, 1)
    thresholds = sorted(set(GRID) | {live})
    return {
        "live": live,
        "rule": rule,
        "chosen_on": "eval",
        "eval_examples": 113,
        "eval": {k: eval_row[k] for k in ("fpr", "fnr", "recall", "precision")},
        "cases_per_day": per_day,
        "test_positive_rate": float(labels.mean()),
        "table": [_rates(labels, scores, t, per_day) for t in thresholds],
        "live_row": _rates(labels, scores, live, per_day),
    }


def _binary(name: str, names: list[str] | None, rule: dict) -> dict:
    labels, scores = binary_arrays(name)
    threshold = _threshold(name, rule, 1000)
    predicted = (scores > threshold["live"]).astype(int)
    auc = float(roc_auc_score(labels, scores))
    low, high = _bootstrap(roc_auc_score, labels, scores)
    confidence = np.where(predicted == 1, scores, 1 - scores)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-confidence[wrong], kind="stable")][:12]
    class_names = names or ["0", "1"]
    return {
        "labels": labels,
        "predicted": predicted,
        "wrong": wrong,
        "confidence": confidence,
        "class_names": class_names,
        "success": {
            "metric": "auc",
            "test": auc,
            "low": low,
            "high": high,
            "confidence": 0.95,
            "method": "bootstrap",
            "right": None,
            "examples": int(labels.size),
            "baseline": {"name": "constant_prediction_auc", "test": 0.5},
            "last_blessed": {"version": 1, "test": round(auc - 0.012, 4)},
            "simple_models": None,
        },
        "classes": _classes(labels, predicted, class_names),
        "threshold": threshold,
    }


def _example(rank: int, made: dict, i: int, **fields) -> dict:
    names = made["class_names"]
    return {
        "rank": rank,
        "true": names[made["labels"][i]],
        "predicted": names[made["predicted"][i]],
        "confidence": float(made["confidence"][i]),
        "error": None,
        "image_png": None,
        "words": None,
        "row": None,
        **fields,
    }


def binary_table() -> dict:
    """A fraud CSV: 400 test rows, AUC, threshold chosen on eval for a 5 % false positive rate."""
    made = _binary("binary_table", ["valid", "fraudulent"], {"kind": "target_fpr", "value": 0.05})
    rng = np.random.default_rng(3)
    examples = [
        _example(
            rank,
            made,
            i,
            row={
                "amount": f"{rng.uniform(1, 900):.2f}",
                "merchant": ["grocer", "fuel", "online <shop>", "travel"][rank % 4],
                "hour": str(int(rng.integers(0, 24))),
                "country": ["FR", "DE", "US"][rank % 3],
            },
        )
        for rank, i in enumerate(made["wrong"][:8], start=1)
    ]
    balance = np.bincount(made["labels"], minlength=2).tolist()
    return {
        "schema_version": 1,
        "model": "fraud",
        "version": 2,
        "created": CREATED,
        "task": {
            "problem_type": "binary",
            "label": "is_fraud",
            "metric": "auc",
            "higher_is_better": True,
            "class_names": made["class_names"],
            "features": [
                {"name": "amount", "kind": "numeric"},
                {"name": "merchant", "kind": "categorical"},
                {"name": "hour", "kind": "numeric"},
                {"name": "country", "kind": "categorical"},
            ],
        },
        "success": {
            **made["success"],
            "simple_models": {
                "models": {"linear": made["success"]["test"] - 0.03, "gradient_boosted_trees": 0.9},
                "best": "gradient_boosted_trees",
                "deep_model_wins": made["success"]["test"] > 0.9,
            },
        },
        "classes": made["classes"],
        "threshold": made["threshold"],
        "regression": None,
        "failure_modes": {"kind": "table", "examples": examples},
        "training": {
            "protocol": "holdout",
            "epochs": 30,
            "eval": 0.93,
            "folds": None,
            "fold_mean": None,
            "fold_std": None,
            "figures": ["loss.png"],
        },
        "data": _data(
            {"train": 1600, "eval": 113, "test": int(made["labels"].size)},
            {"train": [1120, 480], "eval": [80, 33], "test": balance},
            columns={
                "kinds": {
                    "amount": "numeric",
                    "merchant": "categorical",
                    "hour": "numeric",
                    "country": "categorical",
                    "card_id": "categorical",
                },
                "left_out": {"card_id": "an identifier: one distinct value per row"},
                "empty_label_rows": 2,
                "duplicate_rows": {"train": 3, "test": 1},
                "possible_leaks": [],
            },
            warnings=["1 test rows are exact copies of train rows: the test score is optimistic"],
            anomalies=["merchant: 4 test values not seen in train"],
        ),
        "exports": _exports("auc", made["success"]["test"]),
    }


def word_sequence() -> dict:
    """IMDB: 300 test reviews, AUC, the default threshold 0.5; failure modes as word snippets."""
    made = _binary("word_sequence", ["negative", "positive"], {"kind": "threshold", "value": 0.5})
    snippets = [
        "this film was not bad at all in fact i loved it",
        "a waste of two hours the plot <b>never</b> goes anywhere",
        "#12 #45 #901 #7",
    ]
    examples = [
        _example(rank, made, i, words=snippets[rank % 3])
        for rank, i in enumerate(made["wrong"][:5], start=1)
    ]
    return {
        "schema_version": 1,
        "model": "imdb",
        "version": 1,
        "created": CREATED,
        "task": {
            "problem_type": "binary",
            "label": "label",
            "metric": "auc",
            "higher_is_better": True,
            "class_names": made["class_names"],
            "features": [{"name": "words", "kind": "sequence"}],
        },
        "success": {**made["success"], "last_blessed": None},
        "classes": made["classes"],
        "threshold": made["threshold"],
        "regression": None,
        "failure_modes": {"kind": "sequence", "examples": examples},
        "training": {
            "protocol": "holdout",
            "epochs": 4,
            "eval": 0.95,
            "folds": None,
            "fold_mean": None,
            "fold_std": None,
            "figures": [],
        },
        "data": _data(
            {"train": 15_000, "eval": 10_000, "test": int(made["labels"].size)},
            {
                "train": [7500, 7500],
                "eval": [5000, 5000],
                "test": np.bincount(made["labels"], minlength=2).tolist(),
            },
        ),
        "exports": None,
    }


def regression_errors() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The seeded test labels, predictions and the baseline's predictions of regression()."""
    rng = np.random.default_rng(11)
    labels = np.round(np.clip(rng.normal(22.5, 9, 102), 5, 50), 1)
    predicted = labels + rng.normal(0, 4, labels.size)
    baseline = np.full(labels.size, 22.5)
    return labels, predicted, baseline


def regression() -> dict:
    """Boston Housing: 102 test rows, MAE in k$, K-fold training."""
    labels, predicted, baseline = regression_errors()
    errors = np.abs(predicted - labels)
    mae = float(errors.mean())
    low, high = _bootstrap(np.mean, errors)
    counts, edges = np.histogram(errors, bins=20)
    tolerance = float(f"{np.median(np.abs(baseline - labels)):.2g}")
    worst = np.argsort(-errors, kind="stable")[:12]
    rng = np.random.default_rng(5)
    examples = [
        {
            "rank": rank,
            "true": f"{labels[i]:.1f}",
            "predicted": f"{predicted[i]:.1f}",
            "confidence": None,
            "error": float(errors[i]),
            "image_png": None,
            "words": None,
            "row": {c: f"{rng.uniform(0, 100):.3g}" for c in BOSTON_COLUMNS},
        }
        for rank, i in enumerate(worst, start=1)
    ]
    return {
        "schema_version": 1,
        "model": "boston_housing",
        "version": 4,
        "created": CREATED,
        "task": {
            "problem_type": "regression",
            "label": "price",
            "metric": "mae",
            "higher_is_better": False,
            "class_names": None,
            "features": [{"name": c, "kind": "numeric"} for c in BOSTON_COLUMNS],
        },
        "success": {
            "metric": "mae",
            "test": mae,
            "low": low,
            "high": high,
            "confidence": 0.95,
            "method": "bootstrap",
            "right": None,
            "examples": int(labels.size),
            "baseline": {
                "name": "mean_prediction_mae",
                "test": float(np.mean(np.abs(baseline - labels))),
            },
            "last_blessed": {"version": 3, "test": mae + 0.2},
            "simple_models": {
                "models": {"linear": mae + 0.9, "gradient_boosted_trees": mae + 0.3},
                "best": "gradient_boosted_trees",
                "deep_model_wins": True,
            },
        },
        "classes": None,
        "threshold": None,
        "regression": {
            "abs_errors": {
                "mean": mae,
                "quantiles": {
                    q: float(np.quantile(errors, float(q))) for q in ("0.5", "0.9", "0.99")
                },
                "max": float(errors.max()),
            },
            "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
            "sorted_sample": np.sort(errors).tolist(),
            "tolerance": tolerance,
            "within_tolerance": float(np.mean(errors <= tolerance)),
        },
        "failure_modes": {"kind": "table", "examples": examples},
        "training": {
            "protocol": "kfold",
            "epochs": 80,
            "eval": 2.41,
            "folds": [2.3, 2.6, 2.2, 2.55],
            "fold_mean": 2.4125,
            "fold_std": 0.1596,
            "figures": ["loss.png"],
        },
        "data": _data({"train": 340, "eval": 64, "test": int(labels.size)}, None),
        "exports": _exports("mae", mae),
    }


SAMPLES = {
    "multiclass_image": multiclass_image,
    "binary_table": binary_table,
    "word_sequence": word_sequence,
    "regression": regression,
}
