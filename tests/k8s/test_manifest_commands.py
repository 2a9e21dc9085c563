"""The commands and files the manifests hand to dlwp are ones dlwp accepts: the gateway's and
the Job's args parse with `dlwp`'s own parser, and models.config with the gateway's reader."""

import manifests
import pytest

from pipelines.cli import build_parser
from pipelines.k8s_job import CONTAINER_HOME
from serving.model_config import sources_from_config_file


def dlwp_containers(name: str) -> list[tuple[str, dict]]:
    objects = manifests.documents(manifests.build(name).stdout)
    return [
        (f"{owner['kind']}/{owner['metadata']['name']}", c)
        for owner, template in manifests.pod_templates(objects)
        for c in template["spec"]["containers"]
        if c["image"].split("/")[-1].startswith("dlwp")
    ]


@pytest.mark.parametrize("name", sorted(manifests.KUSTOMIZATIONS))
def test_every_dlwp_container_runs_a_command_the_cli_accepts(name):
    parser = build_parser()
    containers = dlwp_containers(name)
    assert {c["name"] for _, c in containers} >= {"dlwp", "gateway"}
    for where, container in containers:
        # As `dlwp` main reads them: what follows `--` is for the `dlwp run` retrain starts.
        argv = container["args"]
        split = argv.index("--") if "--" in argv else len(argv)
        try:
            args = parser.parse_args(argv[:split])
            if args.command == "retrain":
                parser.parse_args(["run", args.model, *argv[split + 1 :]])
        except SystemExit:
            pytest.fail(f"{where} {container['name']}: dlwp refuses {container['args']}")
        if args.command in ("run", "retrain"):
            assert args.home == CONTAINER_HOME, where
        if args.command == "serve":
            assert args.backend == "tfserving" and args.tfserving_address == "localhost:8500"


def test_models_config_is_read_by_the_gateway():
    sources = sources_from_config_file(str(manifests.REPO / "k8s" / "base" / "models.config"))
    assert [(s.name, s.base_path) for s in sources] == [
        ("fashion_mnist", f"{CONTAINER_HOME}/serving/fashion_mnist")
    ]
