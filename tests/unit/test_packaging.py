"""The Dockerfile and deploy/kubernetes/ checked against the package, since no container engine
runs here: what the image copies exists (and is not excluded from the build context), its
ENTRYPOINT is our console script, the config it runs parses (ours and supervisord 4.3.0's
parser), its HEALTHCHECK and the Kubernetes probes ask ``supgrpc-cli health`` on the address
that config listens on, and the grace period covers an orderly stop.

PyYAML is not a dependency: the manifests are read with the small block-YAML reader below
(enough for Kubernetes manifests), cross-checked against PyYAML when it happens to be there.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from supervisor_grpc import config
from supervisor_grpc.model import DaemonSpec
from tests.unit.config_helpers import oracle

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
KUBERNETES = REPO / "deploy" / "kubernetes"
# supgrpcd's last step: whatever descendants are left get SIGTERM, then SIGKILL after this.
SWEEP_GRACE_SECONDS = 5


# ---- the Dockerfile ------------------------------------------------------------------------


@dataclass
class Image:
    instructions: list[tuple[str, str]] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)
    copies: dict[str, str] = field(default_factory=dict)  # absolute destination -> repo source

    def all(self, name: str) -> list[str]:
        return [rest for instr, rest in self.instructions if instr == name]

    def last(self, name: str) -> str:
        found = self.all(name)
        assert found, f"the Dockerfile has no {name}"
        return found[-1]

    def exec_form(self, name: str) -> list[str]:
        value = json.loads(self.last(name))
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), value
        return value

    def source_of(self, path: str) -> Path:
        """The repository file that ends up at ``path`` in the image."""
        for dest, src in self.copies.items():
            if path == dest:
                return REPO / src
            if dest.endswith("/") and path.startswith(dest):
                return REPO / src / path[len(dest) :]
        raise AssertionError(f"nothing in the Dockerfile copies {path}: {self.copies}")


def parse_dockerfile(text: str) -> Image:
    image = Image()
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    workdir = "/"
    for line in logical:
        instr, _, rest = line.partition(" ")
        instr, rest = instr.upper(), rest.strip()
        image.instructions.append((instr, rest))
        if instr == "ARG":
            name, _, default = rest.partition("=")
            image.args[name] = default
        elif instr == "WORKDIR":
            workdir = os.path.join(workdir, rest)
        elif instr == "COPY":
            words = json.loads(rest) if rest.startswith("[") else rest.split()
            words = [w for w in words if not w.startswith("--")]
            *sources, dest = words
            dest = os.path.join(workdir, dest) + ("/" if dest.endswith("/") else "")
            for src in sources:
                target = dest + os.path.basename(src.rstrip("/")) if len(sources) > 1 else dest
                if src.endswith("/"):
                    target = target.rstrip("/") + "/"
                    src = src.rstrip("/")
                image.copies[target] = src
    return image


def ignored(path: str, patterns: list[str]) -> bool:
    """Is ``path`` (or a directory above it) excluded by .dockerignore? (No ``!`` rules.)"""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        pattern = pattern.strip("/")
        bare = pattern[3:] if pattern.startswith("**/") else pattern
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatchcase(prefix.rsplit("/", 1)[-1], bare):
                return True
    return False


def console_scripts() -> dict[str, str]:
    text = (REPO / "pyproject.toml").read_text()
    if sys.version_info >= (3, 11):
        import tomllib

        return dict(tomllib.loads(text)["project"]["scripts"])
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^\s*([\w.-]+)\s*=\s*"([^"]+)"', section, re.M))


@pytest.fixture(scope="module")
def image() -> Image:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def example_config(image: Image) -> Path:
    command = image.exec_form("CMD")
    assert command[0] == "-c", command
    return image.source_of(command[1])


@pytest.fixture(scope="module")
def example(example_config: Path) -> DaemonSpec:
    return config.load(str(example_config))


def test_the_image_is_slim_python_with_the_package_installed_without_test_extras(
    image: Image,
) -> None:
    base = image.all("FROM")
    assert len(base) == 1
    assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim|python:[\d.]+-slim", base[0]), base
    installs = [r for r in image.all("RUN") if "pip install" in r]
    assert len(installs) == 1
    assert re.search(r"pip install \.(\s|$)", installs[0]), installs
    assert "[test]" not in installs[0]


def test_the_dockerignore_matcher_reads_what_it_claims() -> None:
    assert ignored("tests/unit/x.py", ["tests"])
    assert ignored("client/supgrpc/__pycache__/x.pyc", ["**/__pycache__"])
    assert ignored("supgrpc.egg-info/PKG-INFO", ["*.egg-info"])
    assert not ignored("client", ["client/node"])
    assert not ignored("examples/container/supervisord.conf", ["examples/run"])


def test_every_copied_file_exists_and_is_in_the_build_context(image: Image) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "this check does not handle ! rules"
    assert image.copies
    for src in image.copies.values():
        assert (REPO / src).exists(), src
        assert not ignored(src, patterns), f"{src} is excluded by .dockerignore"
    # What `pip install .` needs: the metadata and every package directory.
    copied = set(image.copies.values())
    assert {"pyproject.toml", "README.md", "supervisor_grpc", "client"} <= copied
    assert (REPO / "client" / "supgrpc" / "v1" / "supervisor_pb2.py").exists()


def test_the_entrypoint_is_our_console_script(image: Image) -> None:
    scripts = console_scripts()
    entry = image.exec_form("ENTRYPOINT")
    assert entry == ["supgrpcd"], entry
    for name in ("supgrpcd", "supgrpc-cli"):
        module, _, func = scripts[name].partition(":")
        assert callable(getattr(importlib.import_module(module), func)), scripts[name]


def test_the_config_the_image_runs_parses_in_both_daemons(
    example_config: Path, example: DaemonSpec
) -> None:
    assert example_config.parent == REPO / "examples" / "container"
    assert example.warnings == ()
    names = {p.name for g in example.groups for p in g.programs}
    assert names
    theirs = oracle(str(example_config))
    assert not isinstance(theirs, str), theirs
    assert {g.name for g in theirs.process_group_configs} == names


def test_what_the_example_programs_need_is_in_the_image(image: Image, example: DaemonSpec) -> None:
    copied = set(image.copies)
    runs = " ".join(image.all("RUN"))
    for group in example.groups:
        for program in group.programs:
            for word in shlex.split(program.command):
                if word.startswith("/etc/supgrpc/"):
                    assert word in copied, f"{program.name}: {word} is not copied"
            if program.directory:
                assert program.directory in runs, f"{program.name}: {program.directory}"


def test_the_image_runs_as_an_unprivileged_user_by_default(image: Image) -> None:
    user = image.last("USER")
    referenced = re.findall(r"\$\{?(\w+)\}?", user)
    assert referenced, f"USER {user} is not configurable with an ARG"
    for name in referenced:
        assert name in image.args
        assert image.args[name] not in ("", "0", "root"), image.args


def test_the_healthcheck_asks_supgrpc_cli_health_where_the_config_listens(
    image: Image, example: DaemonSpec
) -> None:
    healthcheck = image.last("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--interval" in options
    check_cli_health(json.loads(command), example)


def check_cli_health(argv: list[str], spec: DaemonSpec) -> None:
    assert argv[0] == "supgrpc-cli", argv
    assert argv[-1] == "health", argv  # the init's overall health
    assert "-s" in argv, argv
    address = argv[argv.index("-s") + 1]
    assert address in spec.grpc.listen, (address, spec.grpc.listen)
    assert address.startswith("unix://"), "a TCP listener needs a token: see docs/container.md"


# ---- Kubernetes ----------------------------------------------------------------------------


def _strip_comment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_item(line: str) -> bool:
    text = line.lstrip(" ")
    return text == "-" or text.startswith("- ")


KEY = re.compile(r"""^("[^"]*"|'[^']*'|[^\s:"'\[\]{}#][^:]*?)\s*:(\s|$)""")


def _scalar(text: str) -> Any:
    text = text.strip()
    if text[:1] in '[{"':
        return json.loads(text)
    if text[:1] == "'":
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~"):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _block(lines: list[str], i: int) -> tuple[Any, int]:
    indent = _indent(lines[i])
    if _is_item(lines[i]):
        items: list[Any] = []
        while i < len(lines) and _indent(lines[i]) == indent and _is_item(lines[i]):
            rest = lines[i].lstrip(" ")[1:].lstrip(" ")
            if not rest:
                value, i = _block(lines, i + 1)
            elif KEY.match(rest):  # a mapping that starts on the dash's line
                lines[i] = " " * (len(lines[i]) - len(rest)) + rest
                value, i = _block(lines, i)
            else:
                value, i = _scalar(rest), i + 1
            items.append(value)
        return items, i
    mapping: dict[str, Any] = {}
    while i < len(lines) and _indent(lines[i]) == indent and not _is_item(lines[i]):
        match = KEY.match(lines[i].strip())
        assert match, f"not a 'key: value' line: {lines[i]!r}"
        key = _scalar(match.group(1))
        rest = lines[i].strip()[match.end() :].strip()
        i += 1
        nested = i < len(lines) and (
            _indent(lines[i]) > indent or (_indent(lines[i]) == indent and _is_item(lines[i]))
        )
        if rest:
            mapping[key] = _scalar(rest)
        elif nested:
            mapping[key], i = _block(lines, i)
        else:
            mapping[key] = None
    return mapping, i


def parse_yaml(text: str) -> list[Any]:
    """Block-style YAML documents: mappings, sequences, plain/quoted scalars, JSON-style flow
    collections. Anything else fails loudly rather than being misread."""
    documents: list[list[str]] = [[]]
    for raw in text.splitlines():
        if raw.rstrip() == "---":
            documents.append([])
            continue
        assert "\t" not in raw, "tabs in YAML indentation"
        line = _strip_comment(raw).rstrip()
        if line.strip():
            documents[-1].append(line)
    out = []
    for lines in documents:
        if not lines:
            continue
        value, end = _block(lines, 0)
        assert end == len(lines), f"cannot read {lines[end]!r}"
        out.append(value)
    return out


def test_the_yaml_reader_reads_what_it_claims() -> None:
    text = """
# a comment
a: 1   # trailing
b:
  - x
  - k: "v # not a comment"
    n: [1, "two"]
c:
- {}
- 'it''s'
d: http://host:80/path
e: true
"""
    assert parse_yaml(text) == [
        {
            "a": 1,
            "b": ["x", {"k": "v # not a comment", "n": [1, "two"]}],
            "c": [{}, "it's"],
            "d": "http://host:80/path",
            "e": True,
        }
    ]


def manifests() -> list[tuple[Path, Any]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        text = path.read_text()
        docs = parse_yaml(text)
        try:
            import yaml  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            pass
        else:
            assert docs == [d for d in yaml.safe_load_all(text) if d is not None], path
        found.extend((path, doc) for doc in docs)
    return found


def deployments() -> list[dict[str, Any]]:
    return [doc for _, doc in manifests() if doc.get("kind") == "Deployment"]


def test_the_manifests_parse_and_say_what_they_are() -> None:
    docs = manifests()
    assert docs
    for path, doc in docs:
        assert isinstance(doc, dict), path
        assert doc.get("apiVersion") and doc.get("kind"), path
    assert deployments()


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_the_probes_ask_supgrpc_cli_health_where_the_config_listens(
    image: Image, example: DaemonSpec
) -> None:
    tcp_ports = {
        int(a.rsplit(":", 1)[1])
        for a in (*example.grpc.listen, *example.grpc.health_listen)
        if "://" not in a
    }
    for deployment in deployments():
        container = _container(deployment)
        assert container.get("args", image.exec_form("CMD")) == image.exec_form("CMD")
        for kind in ("livenessProbe", "readinessProbe"):
            probe = container[kind]
            if "grpc" in probe:  # native gRPC probe: only possible on a TCP listener
                assert probe["grpc"]["port"] in tcp_ports, probe
            else:
                check_cli_health(probe["exec"]["command"], example)


def test_the_grace_period_covers_an_orderly_stop(example: DaemonSpec) -> None:
    stopwait = [p.stopwaitsecs for g in example.groups for p in g.programs]
    for deployment in deployments():
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > max(stopwait)
        # Even when every program stops one after the other, each taking its full stopwaitsecs.
        assert grace > sum(stopwait) + SWEEP_GRACE_SECONDS, (grace, stopwait)


def test_the_pod_runs_as_the_images_user_and_can_write_where_the_init_writes(
    image: Image, example: DaemonSpec
) -> None:
    uid = int(image.args["SUPGRPC_UID"])
    written = [
        os.path.dirname(example.logfile or ""),
        os.path.dirname(example.pidfile or ""),
        example.childlogdir,
        *(os.path.dirname(a[len("unix://") :]) for a in example.grpc.listen if "://" in a),
    ]
    for deployment in deployments():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == uid
        container = _container(deployment)
        if container.get("securityContext", {}).get("readOnlyRootFilesystem"):
            volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
            mounts = [m["mountPath"] for m in container["volumeMounts"] if m["name"] in volumes]
            for directory in written:
                assert any(
                    directory == m or directory.startswith(m.rstrip("/") + "/") for m in mounts
                ), (directory, mounts)
