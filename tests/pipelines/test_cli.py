"""`dlwp` usage errors and missing data: one line, exit code 2, no traceback."""

import json

import pytest


def test_datasets_json_lists_the_book_datasets(run_cli, tmp_path):
    code, out, _ = run_cli("datasets", "--json", "--data-dir", str(tmp_path))
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0
    assert set(rows) == {"mnist", "fashion_mnist", "imdb", "reuters", "boston_housing"}
    assert rows["boston_housing"]["task"] == "regression"
    assert not rows["imdb"]["available"]
    assert "imdb.npz" in rows["imdb"]["what_to_do"]


def test_datasets_finds_the_debian_fashion_mnist(run_cli, tmp_path):
    code, out, _ = run_cli("datasets", "--json", "--data-dir", str(tmp_path))
    fashion = next(row for row in json.loads(out) if row["name"] == "fashion_mnist")
    assert fashion["available"]
    assert all(path.startswith("/usr/share/datasets/") for path in fashion["files"].values())


def test_unknown_dataset_is_a_usage_error(run_cli, tmp_path):
    code, _, err = run_cli("run", "cifar10", "--home", str(tmp_path))
    assert code == 2
    assert "unknown dataset 'cifar10'" in err
    assert "Traceback" not in err


def test_a_beam_arg_that_is_not_an_option_stops_the_run_before_tensorflow_loads(tmp_path, capsys):
    from pipelines import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "mnist", "--home", str(tmp_path), "--beam-arg=direct_num_workers=2"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "--beam-arg 'direct_num_workers=2' is not a Beam option" in err
    assert "--beam-arg=--name=value" in err and not (tmp_path / "logs").exists()


def test_csv_without_label_flag_is_a_usage_error(run_cli, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("run", "--csv", str(tmp_path / "x.csv"))
    assert exit_info.value.code == 2


def test_csv_whose_label_column_is_missing_exits_2_with_the_columns(run_cli, tmp_path):
    csv = tmp_path / "flowers.csv"
    csv.write_text("petal,sepal\n1,2\n3,4\n")
    code, _, err = run_cli(
        "run",
        "--csv",
        str(csv),
        "--label",
        "species",
        "--task",
        "multiclass",
        "--home",
        str(tmp_path / "home"),
    )
    assert code == 2
    assert "no label column 'species'" in err and "petal, sepal" in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("offline")
def test_missing_dataset_exits_2_naming_file_place_and_origin(run_cli, tmp_path):
    code, _, err = run_cli(
        "run",
        "imdb",
        "--home",
        str(tmp_path / "home"),
        "--data-dir",
        str(tmp_path / "data"),
    )
    assert code == 2
    assert str(tmp_path / "data" / "imdb.npz") in err
    assert "tf-keras-datasets/imdb.npz" in err
    assert "Traceback" not in err


def test_serve_with_a_broken_model_config_file_exits_2(run_cli, tmp_path):
    from servers import free_port

    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "toy" base_path: "/m" }')  # no brace
    code, _, err = run_cli(
        "serve",
        "--model-config-file",
        str(config),
        "--home",
        str(tmp_path),
        "--port",
        str(free_port()),
        "--grpc-port",
        str(free_port()),
    )
    assert code == 2
    assert "models.config" in err and "dlwp: error:" in err


def test_serve_on_a_taken_port_exits_2_and_names_it(run_cli, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_cli(
            "serve",
            "--home",
            str(tmp_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        )
    assert code == 2
    assert f"127.0.0.1:{port}" in err and "--port" in err


def test_request_without_a_pushed_model_exits_2(run_cli, tmp_path):
    code, _, err = run_cli("request", "houses", "--home", str(tmp_path))
    assert code == 2
    assert "dlwp run houses" in err


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--home", "{home}"], "{home}/exports"),
        (["--home", "{home}", "--model-base", "{home}/models"], ""),
        (["--model-base", "{home}/models", "--exports-dir", "{home}/e"], "{home}/e"),
    ],
)
def test_serve_exports_dir_defaults_to_the_homes_exports(
    run_cli, tmp_path, monkeypatch, flags, expected
):
    import serving.launch

    seen = []
    monkeypatch.setattr(
        serving.launch, "serve", lambda settings, announce: seen.append(settings) or 0
    )
    monkeypatch.setenv("DLWP_WEB_DIR", str(tmp_path / "web"))
    run_cli("serve", *(flag.format(home=tmp_path) for flag in flags))
    assert seen[0].exports_dir == expected.format(home=tmp_path)
    assert seen[0].web_dir == str(tmp_path / "web")


@pytest.mark.parametrize(
    ("module", "settings", "values", "message"),
    [
        ("serving.batching", "BatchingOptions", {"max_batch_size": 0}, "--max-batch-size .* got 0"),
        (
            "serving.batching",
            "BatchingOptions",
            {"batch_timeout_micros": -5},
            "--batch-timeout-micros .* got -5",
        ),
        ("serving.rest", "RestLimits", {"request_timeout_s": -2.5}, "--request-timeout-s .* -2.5"),
        ("serving.drift_monitor", "DriftSettings", {"interval_s": 0}, "--drift-interval-s .* 0"),
        (
            "serving.drift_monitor",
            "DriftSettings",
            {"window_size": 50, "min_samples": 80},
            "--drift-min-samples 80 must be at most the --drift-window 50",
        ),
        ("serving.server", "ServeSettings", {"grpc_port": -1}, "--grpc-port .* got -1"),
        ("serving.server", "ServeSettings", {"feedback_rate": 1.5}, "--feedback-rate .* got 1.5"),
        ("serving.server", "ServeSettings", {"backend": "triton"}, "--backend .* 'triton'"),
    ],
)
def test_serving_settings_refuse_a_bad_value_naming_it(module, settings, values, message):
    import importlib

    from serving.errors import ServeSettingsError

    settings_class = getattr(importlib.import_module(module), settings)
    with pytest.raises(ServeSettingsError, match=message):
        settings_class(**values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_epochs": -3}, "--epochs .* got -3"),
        ({"tune_trials": -1}, "--tune-trials .* got -1"),
        ({"prune_sparsity": 1.0}, r"--prune .* got 1\.0"),
    ],
)
def test_training_options_refuse_a_bad_value_naming_it(values, message):
    from components.errors import SettingsError
    from pipelines.settings import TrainingOptions

    with pytest.raises(SettingsError, match=message):
        TrainingOptions(**values)


@pytest.fixture
def served_settings(run_cli, monkeypatch, tmp_path):
    """Runs `dlwp serve FLAGS` up to the server, and returns the ServeSettings it was given."""
    import serving.launch

    seen = []
    monkeypatch.setattr(
        serving.launch, "serve", lambda settings, announce: seen.append(settings) or 0
    )

    def serve(*flags):
        code, _, _ = run_cli("serve", "--home", str(tmp_path), *flags)
        assert code == 0
        return seen[-1]

    return serve


def test_serve_flags_left_out_keep_the_settings_defaults(served_settings):
    from serving.settings import BatchingOptions, DriftSettings, RestLimits, ServeSettings

    settings = served_settings("--enable-batching")
    defaults = ServeSettings()
    assert (settings.host, settings.port, settings.grpc_port) == (
        defaults.host,
        defaults.port,
        defaults.grpc_port,
    )
    assert (settings.poll_s, settings.grace_s, settings.backend, settings.feedback_rate) == (
        defaults.poll_s,
        defaults.grace_s,
        defaults.backend,
        defaults.feedback_rate,
    )
    assert settings.batching == BatchingOptions()
    assert settings.limits == RestLimits()
    assert settings.drift == DriftSettings()


def test_serve_listens_on_loopback_unless_told_otherwise(served_settings, monkeypatch):
    monkeypatch.delenv("DLWP_SERVE_HOST", raising=False)
    assert served_settings().host == "127.0.0.1"
    monkeypatch.setenv("DLWP_SERVE_HOST", "0.0.0.0")  # what the image sets
    assert served_settings().host == "0.0.0.0"
    assert served_settings("--host", "::1").host == "::1"


def test_serve_flags_given_reach_the_settings(served_settings):
    settings = served_settings(
        "--enable-batching",
        "--max-batch-size",
        "8",
        "--batch-timeout-micros",
        "0",
        "--max-body-bytes",
        "2048",
        "--drift-window",
        "300",
        "--drift-min-samples",
        "30",
        "--port",
        "9001",
        "--feedback-rate",
        "0.25",
    )
    assert (settings.batching.max_batch_size, settings.batching.batch_timeout_micros) == (8, 0)
    assert settings.limits.max_body_bytes == 2048
    assert (settings.drift.window_size, settings.drift.min_samples) == (300, 30)
    assert (settings.port, settings.feedback_rate) == (9001, 0.25)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max-batch-size", "0"], "--max-batch-size must be positive, got 0"),
        (
            ["--no-drift", "--drift-window", "10", "--drift-min-samples", "20"],
            "--drift-min-samples 20 must be at most the --drift-window 10",
        ),
        (["--max-concurrent-requests", "-1"], "--max-concurrent-requests must be positive"),
        (["--poll-s", "0"], "--poll-s must be positive, got 0.0"),
    ],
)
def test_serve_refuses_a_bad_setting_as_a_usage_error(
    tmp_path, capsys, monkeypatch, flags, message
):
    """Even for what is turned off (batching, drift): a bad value is refused either way."""
    import serving.launch
    from pipelines import cli

    monkeypatch.setattr(serving.launch, "serve", lambda settings, announce: 0)

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--home", str(tmp_path), *flags])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage: dlwp" in err


@pytest.mark.usefixtures("offline")
def test_run_refuses_a_bad_training_setting_as_a_usage_error(tmp_path, capsys):
    from pipelines import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(
            [
                "run",
                "boston_housing",
                "--home",
                str(tmp_path),
                "--data-dir",
                str(tmp_path / "data"),
                "--prune",
                "1.5",
            ]
        )
    assert exit_info.value.code == 2
    assert "--prune is the fraction of weights set to zero" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ('feature { name: "x" type: SOMETHING }', "is not a schema in text format"),
    ],
)
def test_run_refuses_a_missing_or_unreadable_schema_file_at_once(
    tmp_path, capsys, content, message
):
    from pipelines import cli

    schema = tmp_path / "schema.pbtxt"
    if content is not None:
        schema.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "boston_housing", "--home", str(tmp_path), "--schema", str(schema)])
    assert exit_info.value.code == 2
    assert f"--schema {schema}" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()  # refused before TensorFlow loads


@pytest.mark.usefixtures("offline")
def test_run_refuses_a_schema_that_leaves_out_a_feature_or_the_label(run_cli, tmp_path):
    csv = tmp_path / "flowers.csv"
    csv.write_text("petal,sepal,species\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    schema = tmp_path / "schema.pbtxt"
    schema.write_text('feature { name: "petal" type: INT }\n')
    code, _, err = run_cli(
        "run",
        "--csv",
        str(csv),
        "--label",
        "species",
        "--task",
        "binary",
        "--home",
        str(tmp_path / "home"),
        "--schema",
        str(schema),
    )
    assert code == 2
    assert "does not declare 'sepal', 'species'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "home" / "pipelines").exists()
