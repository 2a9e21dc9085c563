"""contract/text_files.py: local files without TensorFlow, URLs through tf.io.gfile."""

import subprocess
import sys
import textwrap

from contract import text_files


def test_a_local_reference_and_schema_are_read_without_importing_tensorflow(tmp_path):
    """The worker supervisor reads them: TensorFlow would cost it about 600 MB."""
    script = textwrap.dedent(
        f"""
        import os, sys
        from contract.schema_domains import version_domains
        from contract.drift_reference import read_reference
        os.makedirs({str(tmp_path)!r} + "/assets.extra")
        with open({str(tmp_path)!r} + "/assets.extra/schema.pbtxt", "w") as f:
            f.write('feature {{ name: "x" type: INT int_domain {{ min: 0 max: 9 }} }}')
        domains = version_domains({str(tmp_path)!r}, ["x"])
        assert domains["x"] is not None and domains["x"].max == 9, domains
        assert read_reference({str(tmp_path)!r}) is None
        assert "tensorflow" not in sys.modules, "TensorFlow was imported"
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_a_url_goes_through_tf_io_gfile():
    import tensorflow as tf

    path = "ram://text-files-test/reference.json"
    with tf.io.gfile.GFile(path, "w") as f:
        f.write('{"é": 1}')
    assert text_files.is_remote(path)
    assert text_files.exists(path)
    assert text_files.read_text(path) == '{"é": 1}'
    assert not text_files.exists("ram://text-files-test/missing.json")


def test_a_local_file_is_read_as_utf8(tmp_path):
    path = tmp_path / "schema.pbtxt"
    path.write_text("é", encoding="utf-8")
    assert not text_files.is_remote(str(path))
    assert text_files.exists(str(path)) and text_files.read_text(str(path)) == "é"
    assert not text_files.exists(str(tmp_path / "missing"))
