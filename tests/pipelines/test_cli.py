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
    import serving.server

    seen = []
    monkeypatch.setattr(
        serving.server, "serve", lambda settings, announce: seen.append(settings) or 0
    )
    monkeypatch.setenv("DLWP_WEB_DIR", str(tmp_path / "web"))
    run_cli("serve", *(flag.format(home=tmp_path) for flag in flags))
    assert seen[0].exports_dir == expected.format(home=tmp_path)
    assert seen[0].web_dir == str(tmp_path / "web")
