"""The Transform step computes only the graph: no statistics of its own and no analyzer cache,
so a task without analyzers (images, word sequences) is transformed without a Beam pass."""

from pipelines.pipeline import create_pipeline
from pipelines.tasks import BOOK_TASKS


def _transform(tmp_path, name):
    pipeline = create_pipeline(
        BOOK_TASKS[name],
        str(tmp_path / "root"),
        str(tmp_path),
        str(tmp_path / "serving"),
        str(tmp_path / "exports"),
        str(tmp_path / "reports"),
    )
    return next(c for c in pipeline.components if c.id == "Transform")


def test_transform_writes_only_its_graph(tmp_path):
    transform = _transform(tmp_path, "fashion_mnist")
    assert transform.exec_properties["disable_statistics"] == 1
    assert sorted(transform.outputs) == ["transform_graph"]
