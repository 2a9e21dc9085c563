"""The Dockerfile against the contract of the images, without a Docker engine.

hadolint lints it; dockerfile_parse reads its stages and the instructions each target inherits,
and the checks compare them with the repository (files, .dockerignore, pyproject, uv.lock).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomli
from docker.utils.build import PatternMatcher
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
TARGETS = ("cpu", "gpu")
UID = "10001"
CONTRACT_ENV = {
    "HOME": "/home/dlwp",
    "DLWP_HOME": "/var/lib/dlwp",
    "KERAS_HOME": "/var/lib/dlwp/keras",
    "DLWP_WEB_DIR": "/app/web",
    # `dlwp serve` binds all interfaces in a container, loopback elsewhere (docs/serving.md).
    "DLWP_SERVE_HOST": "0.0.0.0",
    "MPLCONFIGDIR": "/tmp/matplotlib",
    "PYTHONDONTWRITEBYTECODE": "1",
}
WRITABLE = ("/tmp", "/home/dlwp", "/var/lib/dlwp")
# The wheel's top-level packages (pyproject's `packages.find`).
PACKAGES = {
    p.rstrip("*")
    for p in tomli.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"][
        "find"
    ]["include"]
}
# Local state and what only development needs; none of it belongs in the build context.
NOT_IN_CONTEXT = (".venv", ".tools", "web/node_modules", "dlwp-home", "benchmark-home", "tests")


@dataclass
class Stage:
    """One FROM and its instructions, as (INSTRUCTION, arguments) pairs."""

    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse_stages(parser: DockerfileParser) -> list[Stage]:
    """The stages of a Dockerfile, from dockerfile_parse's instructions (continuations joined,
    comments dropped)."""
    stages: list[Stage] = []
    for instruction in parser.structure:
        keyword, args = instruction["instruction"], instruction["value"]
        if keyword == "COMMENT":
            continue
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else ""
            stages.append(Stage(base=words[0], name=name))
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


STAGES = parse_stages(DockerfileParser(str(DOCKERFILE)))
BY_NAME = {stage.name: stage for stage in STAGES if stage.name}


def chain(target: str) -> list[tuple[str, str]]:
    """The instructions a target runs, its parent stages' first."""
    stage = BY_NAME[target]
    inherited = chain(stage.base) if stage.base in BY_NAME else []
    return inherited + stage.instructions


def last(target: str, keyword: str) -> str:
    """The arguments of the last `keyword` instruction the target runs ("" when none)."""
    return next((args for kw, args in reversed(chain(target)) if kw == keyword), "")


def evaluated(target: str) -> DockerfileParser:
    """The ARG, ENV and LABEL instructions a target runs, as one stage for dockerfile_parse to
    evaluate (it starts each stage afresh, not from the stage it is built on)."""
    lines = [f"{kw} {args}" for kw, args in chain(target) if kw in ("ARG", "ENV", "LABEL")]
    text = "\n".join(["FROM scratch", *lines]) + "\n"
    # The python base image's PATH is not known without an engine: it stays a reference.
    return DockerfileParser(
        fileobj=io.BytesIO(text.encode()), env_replace=True, parent_env={"PATH": "$PATH"}
    )


def environment(target: str) -> dict[str, str]:
    """The ENV of a target, with ARG defaults and earlier values substituted."""
    return evaluated(target).envs


def copy_sources(args: str) -> tuple[dict[str, str], list[str]]:
    """The flags and the source paths of a COPY (the last word is the destination)."""
    words = shlex.split(args)
    flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1]


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` out, by the matcher docker-py builds contexts with (the
    last pattern matching it or a parent wins)."""
    return PatternMatcher(patterns).matches(path.strip("/"))


def ignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_hadolint_reports_nothing():
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        hadolint = Path(shutil.which("hadolint") or "hadolint-not-installed")
    assert hadolint.exists(), "hadolint is missing: run make install (the dev group has it)"
    done = subprocess.run(
        [str(hadolint), "--no-color", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and not output.strip(), output


def test_cpu_and_gpu_targets_exist():
    assert set(TARGETS) <= set(BY_NAME), sorted(BY_NAME)


def test_beam_target_boots_the_locked_beam_sdk_as_10001():
    assert last("beam", "USER") in (UID, f"{UID}:{UID}")
    assert BY_NAME["beam"].instructions[-1][0] == "USER", "USER is the target's last word"
    assert json.loads(last("beam", "ENTRYPOINT")) == ["/opt/apache/beam/boot"]
    sources = [args for kw, args in BY_NAME["beam"].instructions if kw == "COPY"]
    boot = next(a for a in sources if "/opt/apache/beam" in a)
    lock = tomli.loads((ROOT / "uv.lock").read_text())
    locked = next(p["version"] for p in lock["package"] if p["name"] == "apache-beam")
    # The boot program and the SDK in the venv must be the same Beam release.
    assert f"beam_python3.10_sdk:{locked} " in boot, boot


def test_default_target_is_cpu():
    assert STAGES[-1].name == "cpu"


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_as_uid_10001(target):
    assert last(target, "USER") in (UID, f"{UID}:{UID}")
    assert BY_NAME[target].instructions[-1][0] == "USER", "USER is the target's last word"


@pytest.mark.parametrize("target", TARGETS)
def test_entrypoint_is_dlwp(target):
    assert json.loads(last(target, "ENTRYPOINT")) == ["dlwp"]
    assert json.loads(last(target, "CMD")) == ["--help"]


@pytest.mark.parametrize("target", TARGETS)
def test_target_sets_the_contract_environment(target):
    env = environment(target)
    assert {key: env.get(key) for key in CONTRACT_ENV} == CONTRACT_ENV
    assert env["PATH"].startswith("/app/.venv/bin:"), env["PATH"]


@pytest.mark.parametrize("target", TARGETS)
def test_writable_paths_are_volumes_owned_by_10001(target):
    volumes = [path for kw, args in chain(target) if kw == "VOLUME" for path in json.loads(args)]
    assert sorted(volumes) == sorted(WRITABLE)
    created = [
        args
        for kw, args in chain(target)
        if kw == "RUN" and re.search(rf"install -d [^&]*-o {UID} -g {UID}", args)
    ]
    # /tmp keeps the base image's sticky, world-writable mode; the others belong to 10001.
    for path in WRITABLE[1:]:
        assert any(re.search(rf"-g {UID}[^&]* {re.escape(path)}\b", r) for r in created), path


@pytest.mark.parametrize("target", TARGETS)
def test_target_has_the_web_folder_and_node(target):
    steps = chain(target)
    assert ("COPY", "--from=web /web /app/web") in steps
    assert any(kw == "RUN" and "install -y --no-install-recommends nodejs" in a for kw, a in steps)


def test_dependencies_install_from_the_lock():
    for name in ("venv-cpu", "venv-gpu"):
        steps = BY_NAME[name].instructions
        syncs = [args for kw, args in steps if kw == "RUN" and "uv sync" in args]
        assert len(syncs) == 2, syncs
        kinds = [kw for kw, args in steps if kw == "COPY" or "uv sync" in args]
        copies = ["COPY"] * len(PACKAGES)  # one per package of the wheel
        assert kinds == ["RUN", *copies, "RUN"], "source copied between the syncs"
        for sync in syncs:
            assert all(flag in sync.split() for flag in ("--frozen", "--no-dev", "--no-editable"))
        # Dependencies first (a layer that source edits keep), then the project itself.
        assert "--no-install-project" in syncs[0] and "--no-install-project" not in syncs[1]
        extras = {tuple(re.findall(r"--extra (\S+)", sync)) for sync in syncs}
        assert extras == ({("gpu",)} if name == "venv-gpu" else {()})
    uv_copies = [a for kw, a in BY_NAME["venv-base"].instructions if kw == "COPY" and "uv:" in a]
    assert len(uv_copies) == 1 and re.fullmatch(
        r"--from=\S+/uv:\d+\.\d+\.\d+ /uv /bin/", uv_copies[0]
    ), "uv comes from its official image at a pinned version"


def test_copies_from_the_context_exist_and_are_not_ignored():
    patterns = ignore_patterns()
    for stage in STAGES:
        for keyword, args in stage.instructions:
            if keyword not in ("COPY", "ADD"):
                continue
            flags, sources = copy_sources(args)
            if "from" in flags:
                continue
            for source in sources:
                assert (ROOT / source).exists(), f"{stage.name}: {source} is not in the repo"
                assert not dockerignore_excludes(source, patterns), f".dockerignore drops {source}"


@pytest.mark.parametrize("name", ["venv-cpu", "venv-gpu"])
def test_every_packaged_folder_is_copied_into_the_venv_stages(name):
    """The wheel's packages (pyproject's `packages.find`) are all in the image: a new top-level
    package that the Dockerfile forgets would install as nothing."""
    copied = {
        source.rstrip("/")
        for keyword, args in BY_NAME[name].instructions
        if keyword == "COPY"
        for source in copy_sources(args)[1]
    }
    assert not PACKAGES - copied, f"{name} does not copy {sorted(PACKAGES - copied)}"


def test_dockerignore_keeps_local_state_out():
    patterns = ignore_patterns()
    assert [p for p in NOT_IN_CONTEXT if not dockerignore_excludes(p, patterns)] == []
    assert dockerignore_excludes("pipelines/__pycache__/cli.cpython-310.pyc", patterns)
    assert not dockerignore_excludes("web/demo/index.html", patterns)


def test_version_label_matches_pyproject():
    version = tomli.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    labels = evaluated("cpu").labels
    assert labels["org.opencontainers.image.version"] == version


def test_gpu_extra_is_locked_and_its_libraries_are_on_the_path():
    project = tomli.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["gpu"] == ["tensorflow[and-cuda]==2.16.2"]
    lock = tomli.loads((ROOT / "uv.lock").read_text())
    nvidia = [p["name"] for p in lock["package"] if re.fullmatch(r"nvidia-.+-cu12", p["name"])]
    assert "nvidia-cudnn-cu12" in nvidia
    library_path = environment("gpu")["LD_LIBRARY_PATH"].split(":")
    site = "/app/.venv/lib/python3.10/site-packages/nvidia"
    for name in nvidia:
        folder = name.removeprefix("nvidia-").removesuffix("-cu12").replace("-", "_")
        if folder != "cuda_nvcc":  # ptxas and libdevice, found through XLA_FLAGS
            assert f"{site}/{folder}/lib" in library_path, name
    assert environment("gpu")["XLA_FLAGS"] == f"--xla_gpu_cuda_data_dir={site}/cuda_nvcc"


def test_venv_layout_matches_the_python_of_the_lock():
    requires = tomli.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == "==3.10.*"
    assert {s.base for s in STAGES if s.base.startswith("python:")} == {"python:3.10-slim-bookworm"}
    venv = ROOT / ".venv"
    if not venv.is_dir():
        pytest.skip("no .venv here (make install creates it the way the image does)")
    # The image relies on uv's layout: the entry point in bin/, packages in lib/python3.10/.
    assert (venv / "bin" / "dlwp").is_file()
    assert (venv / "lib" / "python3.10" / "site-packages" / "tensorflow").is_dir()


def test_uv_knows_the_sync_flags():
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed here")
    usage = subprocess.run([uv, "sync", "--help"], capture_output=True, text=True).stdout
    for flag in ("--frozen", "--no-dev", "--no-editable", "--no-install-project", "--extra"):
        assert re.search(rf"\s{flag}\b", usage), flag
