"""What a pipeline run did, read back from ML Metadata: run id, components, cached ones, outputs."""

from __future__ import annotations

import dataclasses
import json

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import artifact_utils

from components.data_gate import check
from components.example_gen import SPLIT_COUNTS_PROPERTY
from components.schema_curation import read_schema
from contract.task import TaskContract

_RUN_CONTEXT = "pipeline_run"
_NODE_CONTEXT = "node"
_Execution = metadata_store_pb2.Execution


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    """One component's execution in a run, with its output artifacts by type name."""

    node_id: str
    state: int
    outputs: dict[str, list[metadata_store_pb2.Artifact]]

    @property
    def cached(self) -> bool:
        return self.state == _Execution.CACHED


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """The latest run of a pipeline."""

    run_id: str
    nodes: dict[str, NodeRecord]

    @property
    def cached(self) -> list[str]:
        return [node_id for node_id, node in self.nodes.items() if node.cached]

    def output(self, node_id: str, type_name: str) -> metadata_store_pb2.Artifact | None:
        node = self.nodes.get(node_id)
        artifacts = node.outputs.get(type_name, []) if node else []
        return artifacts[0] if artifacts else None

    def split_counts(self, node_id: str = "ExampleGen") -> dict[str, int]:
        """Examples per split that the ExampleGen wrote (or reused from cache)."""
        examples = self.output(node_id, "Examples")
        if examples is None or SPLIT_COUNTS_PROPERTY not in examples.custom_properties:
            return {}
        return json.loads(examples.custom_properties[SPLIT_COUNTS_PROPERTY].string_value)

    def data_checks(self, task: TaskContract) -> tuple[list[dict], list[dict]]:
        """The data gate's verdict on this run's data, (blocking, warnings) as
        `components.data_gate.check` sorts them; ([], []) when validation did not run."""
        anomalies = self.output("ExampleValidator", "ExampleAnomalies")
        schema = self.output("CurateSchema", "Schema")
        if anomalies is None or schema is None:
            return [], []
        statistics = self.output("StatisticsGen", "ExampleStatistics")
        split_names = artifact_utils.decode_split_names(
            anomalies.properties["split_names"].string_value
        )
        return check(
            anomalies.uri,
            split_names,
            statistics.uri if statistics else None,
            read_schema(schema.uri),
            task,
        )


def latest_run(connection_config: metadata_store_pb2.ConnectionConfig) -> RunRecord | None:
    """Reads the most recent pipeline run recorded in ML Metadata, or None if there is none."""
    store = metadata_store.MetadataStore(connection_config)
    runs = store.get_contexts_by_type(_RUN_CONTEXT)
    if not runs:
        return None
    run = max(runs, key=lambda context: (context.create_time_since_epoch, context.id))
    types = {t.id: t.name for t in store.get_artifact_types()}
    nodes = {}
    for execution in sorted(store.get_executions_by_context(run.id), key=lambda e: e.id):
        node_context = next(
            c
            for c in store.get_contexts_by_execution(execution.id)
            if store.get_context_types_by_id([c.type_id])[0].name == _NODE_CONTEXT
        )
        node_id = node_context.name.rsplit(".", 1)[-1]
        output_ids = [
            event.artifact_id
            for event in store.get_events_by_execution_ids([execution.id])
            if event.type == metadata_store_pb2.Event.OUTPUT
        ]
        outputs: dict[str, list[metadata_store_pb2.Artifact]] = {}
        for artifact in store.get_artifacts_by_id(output_ids):
            outputs.setdefault(types[artifact.type_id], []).append(artifact)
        nodes[node_id] = NodeRecord(node_id, execution.last_known_state, outputs)
    return RunRecord(run_id=run.name, nodes=nodes)
