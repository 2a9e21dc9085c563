"""`dlwp run` end to end: TFX LocalDagRunner, SQLite ML Metadata, Beam DirectRunner, real data."""

import glob
import json
import os
import pathlib

import keras_files
import numpy as np
import pytest
import tensorflow_data_validation as tfdv
from house_csv import learnable_rows, write_houses

from contract.schema_domains import Domain, version_domains

pytestmark = pytest.mark.e2e
STEPS = [
    "ExampleGen",
    "LastBlessedModel",
    "Baseline",
    "SimpleModels",
    "StatisticsGen",
    "SchemaGen",
    "CurateSchema",
    "ExampleValidator",
    "DataGate",
    "Transform",
    "Trainer",
    "DriftReferenceGen",
    "Evaluator",
    "BlessingGate",
    "Pusher",
    "Exporter",
    "ModelReportGen",
]


def split_statistics(home, model, split):
    """TFDV's statistics of one split, as StatisticsGen wrote them in the latest run."""
    pattern = os.path.join(home, "pipelines", model, "StatisticsGen", "statistics", "*")
    latest = max(glob.glob(pattern), key=lambda path: int(os.path.basename(path)))
    stats = tfdv.load_stats_binary(os.path.join(latest, f"Split-{split}", "FeatureStats.pb"))
    return {f.path.step[0]: f for f in stats.datasets[0].features}


def numeric_range(feature):
    return feature.num_stats.min, feature.num_stats.max


# Fashion-MNIST's own files run through the pipeline for real (fashion_runs): its generated copy
# would only repeat that run.
@pytest.mark.usefixtures("keras_checksums_accepted", "offline")
@pytest.mark.parametrize("name", sorted(set(keras_files.WRITERS) - {"fashion_mnist"}))
def test_each_keras_format_runs_through_the_pipeline(
    run_cli, read_summary, keras_data_dir, tmp_path, name
):
    home = str(tmp_path / "home")
    code, out, err = run_cli(
        "run",
        name,
        "--home",
        home,
        "--data-dir",
        keras_data_dir,
        "--max-examples",
        "200",
        "--epochs",
        "1",
    )
    summary = read_summary(home, name)
    assert code == 0, err
    assert summary["anomalies"] == []
    assert all(0 < n <= 200 for n in summary["examples"].values())
    assert set(summary["examples"]) == {"train", "eval", "test"}
    assert list(summary["timings_s"]) == ["total", *STEPS]
    assert summary["metric"]["test"] >= 0 and summary["baseline"]["test"] >= 0
    assert summary["blessing_reasons"]
    assert summary["blessed"] == (summary["pushed_version"] is not None)
    assert summary["training"]["strategy"] == "default"
    if name == "boston_housing":
        assert len(summary["metric"]["folds"]) == 4  # K-fold, k = 4 (book listing 4.27)


def test_real_fashion_mnist_has_the_book_splits(fashion_runs):
    home, (first, _) = fashion_runs
    assert first["examples"] == {"train": 50_000, "eval": 10_000, "test": 10_000}
    for split in ("train", "eval", "test"):
        features = split_statistics(home, "fashion_mnist", split)
        assert numeric_range(features["image"]) == (0, 255)
        assert numeric_range(features["label"]) == (0, 9)
        assert features["image"].num_stats.common_stats.min_num_values == 784


def test_book_dense_net_reaches_088_on_real_fashion_mnist_and_is_pushed(fashion_runs):
    home, (first, _) = fashion_runs
    version = os.path.join(home, "serving", "fashion_mnist", "1")
    assert first["metric"]["test"] >= 0.88
    assert first["baseline"]["test"] == pytest.approx(0.1, abs=0.01)  # balanced classes
    assert first["blessed"] and first["pushed_version"] == 1
    assert os.path.exists(os.path.join(version, "saved_model.pb"))
    for name in ("train_statistics.pb", "schema.pbtxt", "eval_predictions.json"):
        assert os.path.exists(os.path.join(version, "assets.extra", name))
    with open(os.path.join(version, "assets.extra", "drift_reference.json")) as f:
        reference = json.load(f)  # the drift monitor's: a few series, not 784 pixels
    assert reference["format_version"] == 1
    assert set(reference["features"]["image"]["series"]) == {"mean_intensity", "ink_fraction"}
    assert len(reference["features"]["image"]["series"]["mean_intensity"]) == 5_000
    # The domain the monitor checks comes from the version's schema (contract/schema_domains.py).
    assert version_domains(version, ["image"]) == {"image": Domain(0, 255)}
    assert len(reference["predictions"]) == first["examples"]["eval"]
    for name in ("history.json", "loss.png", "accuracy.png", "training.json"):
        assert os.path.exists(os.path.join(home, "reports", "fashion_mnist", "1", name))


def test_second_identical_run_is_cached_and_pushes_no_new_version(fashion_runs):
    home, (first, second) = fashion_runs
    # Up to the Trainer nothing runs again; the evaluation runs once more because the last
    # blessed model now exists (it is the same model), and the Pusher finds it published.
    assert set(STEPS[:11]) - {"LastBlessedModel"} <= set(second["cached"])
    assert second["pushed_version"] is None
    assert second["metric"]["test"] == pytest.approx(first["metric"]["test"])
    assert os.listdir(os.path.join(home, "serving", "fashion_mnist")) == ["1"]


@pytest.mark.usefixtures("keras_checksums_accepted", "offline")
def test_model_trained_on_shuffled_labels_is_not_blessed(run_cli, read_summary, tmp_path):
    """Book listing 5.4: real Fashion-MNIST images, training labels shuffled."""
    from components.keras_datasets import KERAS_DATASETS, load_keras_dataset

    fashion = KERAS_DATASETS["fashion_mnist"]
    (x_train, y_train), (x_test, y_test) = load_keras_dataset(fashion, str(tmp_path / "none"))
    rng = np.random.default_rng(0)
    np.savez_compressed(
        tmp_path / "mnist.npz",
        x_train=x_train[:12_000],
        y_train=rng.permutation(y_train[:12_000]),
        x_test=x_test[:2_000],
        y_test=y_test[:2_000],
    )
    home = str(tmp_path / "home")
    code, out, err = run_cli(
        "run",
        "mnist",
        "--home",
        home,
        "--data-dir",
        str(tmp_path),
        "--max-examples",
        "2000",
        "--epochs",
        "5",
    )
    summary = read_summary(home, "mnist")
    assert code == 0, err
    assert not summary["blessed"] and summary["pushed_version"] is None
    assert any("does not beat the common-sense baseline" in r for r in summary["blessing_reasons"])
    assert not os.path.exists(os.path.join(home, "serving", "mnist"))


def write_csv(path, rows):
    path.write_text(
        "rooms,color,area,price,split\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    return str(path)


def house_rows(split, n, color=lambda i: ["red", "blue", ""][i % 3], rooms=lambda i: 1 + i % 5):
    return [(rooms(i), color(i), 50.5 + i, 100 + 3 * i, split) for i in range(n)]


def clean_rows():
    return house_rows("train", 30) + house_rows("eval", 9) + house_rows("test", 9)


@pytest.fixture(scope="module")
def clean_csv_run(tmp_path_factory):
    """One run on a small CSV with a string column and missing cells, as the dlwp image runs
    it: in a separate process, on a read-only root filesystem (tests/read_only_root.py);
    (home, code, out, err)."""
    from read_only_root import dlwp_in_read_only_root

    folder = tmp_path_factory.mktemp("clean-csv")
    csv = write_csv(folder / "houses.csv", clean_rows())
    home = str(folder / "home")
    args = ["--csv", csv, "--label", "price", "--task", "regression", "--epochs", "3"]
    result = dlwp_in_read_only_root(["run", *args, "--home", home], str(folder))
    return home, result.returncode, result.stdout, result.stderr


def test_csv_with_missing_values_and_a_string_column(clean_csv_run, read_summary):
    home, code, out, err = clean_csv_run
    summary = read_summary(home, "houses")
    train = split_statistics(home, "houses", "train")
    assert code == 0, err
    assert summary["task"] == "regression"
    assert summary["examples"] == {"train": 30, "eval": 9, "test": 9}
    assert train["color"].string_stats.common_stats.num_missing == 10
    assert train["color"].string_stats.unique == 2
    assert "split" not in train


def test_progress_is_one_line_per_step_and_library_logs_go_to_the_log(clean_csv_run):
    home, code, out, err = clean_csv_run
    lines = out.splitlines()
    (log,) = glob.glob(os.path.join(home, "logs", "houses-*.log"))
    assert code == 0, err
    for step in STEPS:
        assert sum(line.endswith(f"] {step} ...") for line in lines) == 1
        assert sum(f"] {step} done in " in line for line in lines) == 1
    assert "tensorflow" not in out + err
    assert "Component ExampleGen is running." in pathlib.Path(log).read_text()


def rows_without_rooms_in_eval():
    return (
        house_rows("train", 30) + house_rows("eval", 9, rooms=lambda i: "") + house_rows("test", 9)
    )


def test_data_gate_stops_a_csv_run_that_lacks_a_feature(run_cli, read_summary, tmp_path):
    home = str(tmp_path / "home")
    csv = write_csv(tmp_path / "houses.csv", rows_without_rooms_in_eval())
    code, out, err = run_cli(
        "run", "--csv", csv, "--label", "price", "--task", "regression", "--home", home
    )
    summary = read_summary(home, "houses")
    assert code == 1
    assert "split 'eval', feature 'rooms': SCHEMA_MISSING_COLUMN" in err
    assert "curate it: the schema inferred from train is at " in err
    assert err.rstrip().endswith("pass your edited copy with --schema FILE")
    assert [(a["split"], a["feature"], a["kind"], a["count"]) for a in summary["anomalies"]] == [
        ("eval", "rooms", "SCHEMA_MISSING_COLUMN", 9)
    ]
    assert "Traceback" not in err


def test_data_gate_warns_of_a_rare_int_value_and_an_unseen_category_and_runs(
    run_cli, read_summary, tmp_path
):
    """An int column of 0 and 1 in train (once typed BOOL) with a 2 in test, and a color train
    never showed: inferred from a sample, so the run goes on and says so."""
    rows = (
        house_rows("train", 30, rooms=lambda i: i % 2)
        + house_rows("eval", 9, rooms=lambda i: i % 2)
        + house_rows(
            "test",
            9,
            rooms=lambda i: 2 if i == 4 else i % 2,
            color=lambda i: "purple" if i < 3 else ["red", "blue", ""][i % 3],
        )
    )
    home = str(tmp_path / "home")
    csv = write_csv(tmp_path / "houses.csv", rows)
    code, out, err = run_cli(
        "run",
        "--csv",
        csv,
        "--label",
        "price",
        "--task",
        "regression",
        "--home",
        home,
        "--epochs",
        "2",
    )
    summary = read_summary(home, "houses")
    assert code == 0, err
    assert summary["anomalies"] == []
    warned = {(w["split"], w["feature"], w["kind"], w["count"]) for w in summary["data_warnings"]}
    assert ("test", "color", "ENUM_TYPE_UNEXPECTED_STRING_VALUES", 3) in warned
    assert not [w for w in summary["data_warnings"] if w["feature"] == "rooms"]
    assert (
        "data warning: split 'test', feature 'color': ENUM_TYPE_UNEXPECTED_STRING_VALUES in 3 "
        "examples"
    ) in out.splitlines()
    assert summary["metric"]["test"] is not None


def test_data_gate_curated_schema_accepts_what_the_inferred_one_refuses(
    run_cli, read_summary, tmp_path
):
    """The remedy the gate names: edit the schema it checked against (rooms may be missing
    from a whole split) and pass it with --schema."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    home = str(tmp_path / "home")
    csv = write_csv(tmp_path / "houses.csv", rows_without_rooms_in_eval())
    args = ["run", "--csv", csv, "--label", "price", "--task", "regression", "--home", home]
    code, _, err = run_cli(*args)
    assert code == 1
    inferred = err.split("the schema inferred from train is at ")[1].split(";")[0]
    schema = text_format.Parse(pathlib.Path(inferred).read_text(), schema_pb2.Schema())
    rooms = next(f for f in schema.feature if f.name == "rooms")
    rooms.presence.min_fraction = 0
    rooms.presence.min_count = 0
    curated = tmp_path / "curated.pbtxt"
    curated.write_text(text_format.MessageToString(schema))
    code, out, err = run_cli(*args, "--schema", str(curated), "--epochs", "2")
    summary = read_summary(home, "houses")
    assert code == 0, err
    assert summary["anomalies"] == []
    assert "ImportSchemaGen" in summary["timings_s"] and "SchemaGen" not in summary["timings_s"]
    assert summary["metric"]["test"] is not None


@pytest.mark.usefixtures("keras_checksums_accepted", "offline")
@pytest.mark.parametrize(
    "case, broken, feature, kind",
    [
        ("type change", {"x_test_dtype": np.float32}, "image", "UNEXPECTED_DATA_TYPE"),
        ("label out of range", {"y_test_offset": 10}, "label", "INT_TYPE_BIG_INT"),
    ],
)
def test_data_gate_stops_a_broken_mnist(
    run_cli, read_summary, tmp_path, case, broken, feature, kind
):
    keras_files.write_mnist(str(tmp_path), **broken)
    home = str(tmp_path / "home")
    code, out, err = run_cli(
        "run", "mnist", "--home", home, "--data-dir", str(tmp_path), "--max-examples", "100"
    )
    assert code == 1, case
    assert f"split 'test', feature {feature!r}" in err
    assert kind in err
    assert "DataGate ..." in out and "DataGate done" not in out


def test_small_csv_uses_k_fold_and_is_blessed(house_runs):
    home, (first, _, _) = house_runs
    assert len(first["metric"]["folds"]) == 4  # 180 training rows < 1,000: K-fold
    assert first["metric"]["test"] < 0.9 * first["baseline"]["test"]
    assert first["blessed"] and first["pushed_version"] == 1


def test_pushed_model_serves_raw_values_and_tf_examples_alike(house_runs):
    import tensorflow as tf

    home, _ = house_runs
    model = tf.saved_model.load(os.path.join(home, "serving", "houses", "1"))
    raw = {
        "rooms": tf.constant([3.0, float("nan")]),  # NaN: missing
        "color": tf.constant(["red", ""]),  # "": missing
        "area": tf.constant([120.0, 80.0]),
    }
    from_raw = model.signatures["serving_default"](**raw)["predictions"].numpy()
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "rooms": tf.train.Feature(int64_list=tf.train.Int64List(value=[3])),
                    "color": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"red"])),
                    "area": tf.train.Feature(float_list=tf.train.FloatList(value=[120.0])),
                }
            )
        ).SerializeToString(),
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "area": tf.train.Feature(float_list=tf.train.FloatList(value=[80.0])),
                }
            )
        ).SerializeToString(),
    ]
    from_examples = model.signatures["from_examples"](examples=tf.constant(examples))
    assert np.all(np.isfinite(from_raw))
    np.testing.assert_allclose(from_raw, from_examples["predictions"].numpy(), rtol=1e-5)
    assert 2.0 * 120 + 15 * 3 - 60 < from_raw[0] < 2.0 * 120 + 15 * 3 + 60


def test_identical_csv_run_pushes_nothing_new(house_runs):
    home, (_, second, _) = house_runs
    assert second["pushed_version"] is None
    assert {"ExampleGen", "Transform", "Trainer", "Baseline"} <= set(second["cached"])


def test_new_data_pushes_a_new_version_when_blessed(house_runs):
    home, (_, _, third) = house_runs
    assert third["examples"]["train"] == 270
    assert "ExampleGen" not in third["cached"]
    assert third["blessed"] and third["pushed_version"] == 2
    assert any("against the last blessed model" in r for r in third["blessing_reasons"])
    assert sorted(os.listdir(os.path.join(home, "serving", "houses"))) == ["1", "2"]


def test_csv_exports_take_transformed_features_where_the_transform_needs_tf_ops(house_runs):
    import tensorflow as tf

    home, (first, second, third) = house_runs
    folder = os.path.join(home, "exports", "houses", "1")
    with open(os.path.join(folder, "parity.json")) as f:
        parity = json.load(f)
    with open(os.path.join(folder, "golden.json")) as f:
        golden = json.load(f)
    tflite = parity["formats"]["tflite_float32"]
    # The vocabulary lookup of the string column needs a TF op TFLite lacks: the export takes
    # the Transform's output instead, and says so.
    assert tflite["input"] == "transformed" and tflite["published"]
    assert "StringToHashBucketFast" in tflite["errors"][0]
    assert set(tflite["inputs"]) == {"rooms", "color", "area"}
    runner = tf.lite.Interpreter(
        model_path=os.path.join(folder, "tflite_float32", "model.tflite")
    ).get_signature_runner("serving_default")
    transformed = {
        k: np.asarray(v, tflite["inputs"][k]["dtype"])
        for k, v in golden["transformed_inputs"].items()
    }
    np.testing.assert_allclose(
        runner(**transformed)["predictions"], golden["outputs"]["predictions"], rtol=1e-4
    )
    assert first["exports"]["tflite_float32"]["published"]
    assert second["exports"] is None  # nothing new pushed, nothing new exported
    assert third["exports"] is not None and os.path.isdir(
        os.path.join(home, "exports", "houses", "2")
    )


def test_tune_searches_and_feeds_the_trainer(run_cli, read_summary, tmp_path):
    from components.tuning import SEARCH_SPACE

    home = str(tmp_path / "home")
    csv = write_houses(tmp_path / "houses.csv", learnable_rows(200, seed=2))
    code, out, err = run_cli(
        "run",
        "--csv",
        csv,
        "--label",
        "price",
        "--task",
        "regression",
        "--home",
        home,
        "--tune",
        "--tune-trials",
        "2",
        "--epochs",
        "2",
    )
    summary = read_summary(home, "houses")
    chosen = summary["training"]["hyperparameters"]
    assert code == 0, err
    assert "Tuner" in summary["timings_s"]
    assert set(chosen["hidden_units"]) <= set(SEARCH_SPACE["units"])
    assert chosen["dropout"] in SEARCH_SPACE["dropout"]
    assert chosen["learning_rate"] in SEARCH_SPACE["learning_rate"]


def test_dlwp_serve_answers_for_the_pushed_csv_model(house_runs):
    """The REST API serves what the pipeline pushed: raw values (NaN and "" for missing) through
    :predict, and tf.Examples through :regress, both as the SavedModel computes them."""
    import tensorflow as tf
    from servers import running_server, settings_for

    home, _ = house_runs
    model = tf.saved_model.load(os.path.join(home, "serving", "houses", "2"))
    expected = model.signatures["serving_default"](
        rooms=tf.constant([3.0, float("nan")]),
        color=tf.constant(["red", ""]),
        area=tf.constant([120.0, 80.0]),
    )["predictions"].numpy()
    with (
        running_server(settings_for(models_dir=os.path.join(home, "serving"))) as server,
        server.client() as client,
    ):
        assert client.get("/v1/models/houses").json()["model_version_status"][0]["version"] == "2"
        predicted = client.post(
            "/v1/models/houses:predict",
            content=(
                b'{"instances": [{"rooms": 3.0, "color": "red", "area": 120.0},'
                b' {"rooms": NaN, "color": "", "area": 80.0}]}'
            ),
        )
        assert predicted.status_code == 200, predicted.text
        np.testing.assert_allclose(predicted.json()["predictions"], expected, rtol=1e-5)
        regressed = client.post(
            "/v1/models/houses:regress",
            json={
                "examples": [
                    {"rooms": 3, "color": "red", "area": 120.0},
                    {"area": 80.0},
                ]
            },
        )
        assert regressed.status_code == 200, regressed.text
        np.testing.assert_allclose(regressed.json()["results"], expected, rtol=1e-5)
        # `dlwp request` writes real test rows in the form :predict takes.
        from pipelines.request_example import predict_body

        body = predict_body(home, "houses", count=3)
        assert set(body["instances"][0]) == {"rooms", "color", "area"}
        sent = client.post("/v1/models/houses:predict", content=json.dumps(body))
        assert sent.status_code == 200 and len(sent.json()["predictions"]) == 3


def test_dlwp_serve_classifies_real_fashion_mnist_images(fashion_runs):
    from servers import running_server, settings_for

    from components.keras_datasets import KERAS_DATASETS, load_keras_dataset
    from pipelines.tasks import FASHION_MNIST_CLASSES

    home, _ = fashion_runs
    empty_data_dir = os.path.join(home, "no-keras-cache")
    (_, _), (images, labels) = load_keras_dataset(KERAS_DATASETS["fashion_mnist"], empty_data_dir)
    images = images[:32].reshape(32, 784).astype(int)
    with (
        running_server(settings_for(models_dir=os.path.join(home, "serving"))) as server,
        server.client() as client,
    ):
        response = client.post(
            "/v1/models/fashion_mnist:predict", json={"instances": images.tolist()}
        )
        assert response.status_code == 200, response.text
        predicted = [p["class_ids"] for p in response.json()["predictions"]]
        named = [p["classes"] for p in response.json()["predictions"]]
        examples = client.post(
            "/v1/models/fashion_mnist:classify",
            json={
                "examples": [{"image": image.tolist()} for image in images[:4]],
            },
        ).json()["results"]
    assert np.mean(np.array(predicted) == labels[:32]) >= 0.75  # the model is ~0.89 accurate
    assert named == [FASHION_MNIST_CLASSES[k] for k in predicted]  # "Ankle boot", not 9
    for pairs, image_class in zip(examples, predicted[:4], strict=True):
        assert [label for label, _ in pairs] == list(FASHION_MNIST_CLASSES)  # TF Serving's way
        assert max(range(10), key=lambda k: pairs[k][1]) == image_class
