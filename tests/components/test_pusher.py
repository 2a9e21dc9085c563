"""Publishing: the next integer version, complete when it appears, never a half version."""

import os

from components.pusher import publish
from contract.versions import list_versions


def make_model(path):
    os.makedirs(path / "variables")
    (path / "saved_model.pb").write_bytes(b"model")
    (path / "variables" / "variables.index").write_bytes(b"index")
    return str(path)


def test_next_version_follows_the_highest_integer_folder(tmp_path):
    serving = tmp_path / "serving"
    for name in ("1", "3", "notes", ".partial-9-1"):
        os.makedirs(serving / name)
    extra = tmp_path / "schema.pbtxt"
    extra.write_text("feature {}")
    version = publish(
        {"assets.extra/schema.pbtxt": str(extra)}, make_model(tmp_path / "m"), str(serving)
    )
    assert version == 4
    assert (serving / "4" / "saved_model.pb").read_bytes() == b"model"
    assert (serving / "4" / "variables" / "variables.index").exists()
    assert (serving / "4" / "assets.extra" / "schema.pbtxt").read_text() == "feature {}"
    assert list_versions(str(serving)) == [1, 3, 4]


def test_no_staging_folder_is_left_behind(tmp_path):
    serving = tmp_path / "serving"
    publish({}, make_model(tmp_path / "m"), str(serving))
    assert sorted(os.listdir(serving)) == ["1"]


def test_a_model_is_published_once(tmp_path):
    from components.pusher import version_of_model
    from contract.version_assets import SOURCE_FILE

    serving = str(tmp_path / "serving")
    model = make_model(tmp_path / "m")
    publish({}, model, serving, texts={f"assets.extra/{SOURCE_FILE}": "/pipeline/Trainer/model/7"})
    assert version_of_model(serving, "/pipeline/Trainer/model/7") == 1
    assert version_of_model(serving, "/pipeline/Trainer/model/8") is None
