"""A version's report in plain words (docs/reports.md): the sentences the page opens with, and the
one screen of text that `dlwp report MODEL` prints.

    for line in report_text(report, "/home/me/dlwp/reports/fashion_mnist/3/report.html"):
        print(line)

The book's last step of defining the task (6.3.1) is to explain the work to stakeholders and set
expectations: so the numbers are said in the task's units ("right on 89 of 100 test images"), with
their uncertainty, next to the baseline and the version they replace.
"""

from __future__ import annotations

import textwrap

WIDTH = 100
UNITS = {"image": ("image", "images"), "sequence": ("text", "texts"), "table": ("row", "rows")}
BASELINE_PHRASES = {
    "majority_class_accuracy": "Always guessing the most common class",
    "random_guess_accuracy": "Guessing at random with the training class frequencies",
    "constant_prediction_auc": "A constant prediction",
    "mean_prediction_mae": "Always predicting the training mean",
}
SIMPLE_MODEL_NAMES = {
    "linear": "a linear model",
    "gradient_boosted_trees": "gradient-boosted trees",
}
EXPORT_NAMES = {"tflite": "TFLite", "tfjs": "TF.js"}


def number(value: float | None) -> str:
    """`value` with 3 significant digits, without exponent below a million; "n/a" for None."""
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    text = f"{value:.3g}"
    return text if "e" not in text else f"{value:.6f}".rstrip("0").rstrip(".")


def per_day(value: float) -> str:
    """A count per day: one decimal below 10 ("1.4"), whole above ("390")."""
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def percent(rate: float | None, digits: int = 1) -> str:
    """A rate in [0, 1] as "4.9 %"; "n/a" for None (e.g. the precision when nothing is flagged)."""
    return "n/a" if rate is None else f"{100 * rate:.{digits}f} %"


def per_100(*rates: float) -> list[str]:
    """Rates as counts out of 100, with just enough decimals that distinct rates read distinct."""
    for digits in (0, 1, 2):
        texts = [f"{100 * r:.{digits}f}" for r in rates]
        if len(set(texts)) == len(set(rates)):
            return texts
    return texts


def units(report: dict) -> tuple[str, str]:
    """What one test example is called, singular and plural: image, text or row."""
    return UNITS.get(report["failure_modes"]["kind"], UNITS["table"])


def class_names(report: dict) -> list[str]:
    """The class names of a classification task ("0", "1", ... when the task names none)."""
    if report.get("classes"):
        return report["classes"]["names"]
    names = report["task"]["class_names"]
    return list(names) if names else ["0", "1"]


def _ranked(report: dict) -> tuple[str, str]:
    """A positive and a negative example in words: "'positive' test text", "'negative' one"."""
    one, _ = units(report)
    names = report["task"]["class_names"]
    if names:
        return f"'{names[1]}' test {one}", f"'{names[0]}' one"
    return f"test {one} of class 1", "one of class 0"


def success_sentences(report: dict) -> list[str]:
    """The measure of success on test, its interval, the baseline, the last blessed version and
    the simple models, one sentence each."""
    success = report["success"]
    metric = success["metric"]
    one, many = units(report)
    confidence = f"{100 * success['confidence']:.0f} % confidence"
    baseline, last, simple = success["baseline"], success["last_blessed"], success["simple_models"]
    if metric == "accuracy":
        test, low, high = per_100(success["test"], success["low"], success["high"])
        sentences = [f"Right on {test} of 100 test {many} ({low}–{high} with {confidence})."]

        # Beside the model's own score, with the decimals that tell the two apart.
        def score(value: float) -> str:
            return f"is right on {per_100(success['test'], value)[1]}"

    elif metric == "auc":
        test, low, high = per_100(success["test"], success["low"], success["high"])
        positive, negative = _ranked(report)
        sentences = [
            f"Ranks a random {positive} above a random {negative} {test} times in 100 "
            f"(AUC {success['test']:.3f}; {low}–{high} with {confidence})."
        ]

        def score(value: float) -> str:
            return f"ranks them right {per_100(success['test'], value)[1]} times in 100"

    else:
        sentences = [
            f"Typical error {number(success['test'])} ({number(success['low'])}–"
            f"{number(success['high'])} with {confidence}): the mean absolute error on "
            f"{success['examples']} test {many}."
        ]

        def score(value: float) -> str:
            return f"is off by {number(value)}"

    if baseline:
        who = BASELINE_PHRASES.get(baseline["name"], f"The baseline ({baseline['name']})")
        sentences.append(f"{who} {score(baseline['test'])}.")
    if last:
        which = f"version ({last['version']})" if last.get("version") is not None else "model"
        sentences.append(f"The last blessed {which} {_past(score(last['test']))}.")
    else:
        sentences.append("No earlier version was blessed: this is the first.")
    if simple and simple.get("best"):
        best = simple["best"]
        verdict = (
            "the deep model does better" if simple["deep_model_wins"] else "it beats the deep model"
        )
        sentences.append(
            f"The best simple model, {SIMPLE_MODEL_NAMES.get(best, best)}, "
            f"{score(simple['models'][best])}: {verdict}."
        )
    return sentences


def _past(phrase: str) -> str:
    return phrase.replace("is ", "was ", 1).replace("ranks ", "ranked ", 1)


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def confusion_sentences(report: dict, top: int = 5) -> list[str]:
    """The most confused pairs: "Shirt taken for T-shirt/top 152 times (15 % of test Shirt)"."""
    classes = report.get("classes")
    if not classes:
        return []
    names, support = classes["names"], classes["support"]
    _, many = units(report)
    return [
        f"{names[pair['true']]} taken for {names[pair['predicted']]} {_times(pair['count'])} "
        f"({percent(pair['count'] / support[pair['true']], 0)} of the {support[pair['true']]} "
        f"{names[pair['true']]} test {many})."
        for pair in classes["most_confused"][:top]
        if support[pair["true"]]
    ]


def threshold_sentences(report: dict) -> list[str]:
    """How the live threshold was chosen, and what it means per day (binary tasks)."""
    threshold = report.get("threshold")
    if not threshold:
        return []
    rule, seen = threshold["rule"], threshold["eval"]
    on_eval = f"on the {threshold['chosen_on']} split ({threshold['eval_examples']} examples)"
    if rule["kind"] == "target_fpr":
        how = (
            f"chosen {on_eval} to keep false positives at {100 * rule['value']:g} % "
            f"(there: {percent(seen['fpr'])}, recall {percent(seen['recall'])})"
        )
    elif rule["kind"] == "target_recall":
        how = (
            f"chosen {on_eval} to catch {100 * rule['value']:g} % of positives "
            f"(there: recall {percent(seen['recall'])}, false positives {percent(seen['fpr'])})"
        )
    else:
        how = (
            f"a fixed threshold (on the {threshold['chosen_on']} split: false positives "
            f"{percent(seen['fpr'])}, recall {percent(seen['recall'])})"
        )
    sentences = [f"Live threshold {threshold['live']:.4g}: {how}."]
    row = threshold["live_row"]
    sentences.append(
        f"On test it flags {percent(row['fpr'])} of negatives by mistake and misses "
        f"{percent(row['fnr'])} of positives."
    )
    if threshold.get("cases_per_day"):
        names = report["task"]["class_names"]
        negative, positive = (
            (f"{names[0]} cases", f"{names[1]} ones") if names else ("cases of class 0", "of 1")
        )
        sentences.append(
            f"At {threshold['cases_per_day']:,} cases a day, it flags "
            f"{per_day(row['false_positives_per_day'])} {negative} a day for review and misses "
            f"{per_day(row['false_negatives_per_day'])} {positive} "
            f"({per_day(row['flagged_per_day'])} flagged a day in all)."
        )
    return sentences


def tolerance_sentence(report: dict) -> str | None:
    """ "88 % of test rows within ±5.8 (the baseline's median error)" for regression."""
    regression = report.get("regression")
    if not regression:
        return None
    _, many = units(report)
    errors = regression["abs_errors"]
    return (
        f"{percent(regression['within_tolerance'], 0)} of test {many} within "
        f"±{number(regression['tolerance'])}; 90 % within ±{number(errors['quantiles']['0.9'])}"
        f", the worst off by {number(errors['max'])}."
    )


def size(size_bytes: int) -> str:
    """A file size: "1.6 MB", "12 kB", "800 B" (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.3g} {unit}"
    return f"{size_bytes} B"


def export_sentences(report: dict) -> list[str]:
    """Each export format's size and parity with the SavedModel, or why it is not published."""
    lines = []
    metric = report["success"]["metric"]
    for name, export in (report.get("exports") or {}).items():
        label = EXPORT_NAMES.get(name, name)
        sizes = f"{size(export['size_bytes'])} ({size(export['gzip_bytes'])} gzipped)"
        parity = (
            "" if export["delta"] is None else f", {metric} {export['delta']:+.4f} vs SavedModel"
        )
        verdict = "published" if export["published"] else f"not published: {export['reason']}"
        lines.append(f"{label}: {sizes}{parity}; {verdict}.")
    return lines


def report_text(report: dict, html_path: str) -> list[str]:
    """The one screen (at most ~25 lines of at most 100 columns) of `dlwp report MODEL`."""
    task = report["task"]
    success = report["success"]
    lines = [
        f"{report['model']} version {report['version']} ({report['created'][:10]}): "
        f"{task['problem_type']} of {task['label']!r}, {success['metric']} "
        f"{success['test']:.4f} on {success['examples']} test examples"
    ]
    lines += _wrap(" ".join(success_sentences(report)))
    confusions = confusion_sentences(report, top=3)
    if confusions:
        lines.append("Most confused:")
        lines += [line for sentence in confusions for line in _wrap(sentence, "  ")]
    tolerance = tolerance_sentence(report)
    if tolerance:
        lines += _wrap(tolerance)
    lines += [line for sentence in threshold_sentences(report) for line in _wrap(sentence)]
    exports = export_sentences(report)
    if exports:
        lines.append("Exports:")
        lines += [line for sentence in exports for line in _wrap(sentence, "  ")]
    data = report["data"]
    notes = len(data["warnings"]) + len(data["anomalies"])
    if notes:
        lines.append(f"Data: {notes} warning(s) to read on the page.")
    lines.append(f"Page: {html_path}")
    return lines


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent or "  ", break_on_hyphens=False
    )
