"""Stack definitions: a Compose file with an ``x-playground`` section.

A stack is a folder under ``stacks/`` that contains ``compose.yaml``. Every
backend starts from its Compose part. The ``x-playground`` section adds what
Compose has no word for: a description, the health checks that prove the
stack works, and which top-level secrets playground generates
(``x-playground-generate``). A stack that serves a registry mirror says so
in ``x-playground.mirror``, which ``playground up --mirror`` looks for. A
stack that needs work Compose cannot express, before it starts or once it is
ready, names a known setup action in ``x-playground.setup``.
``x-playground.backends`` limits a stack to some backends (default: all).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from playground.backends import KNOWN_BACKENDS
from playground.errors import ConfigError, UsageError
from playground.interpolation import interpolate, variables_for

STACK_FILE = "compose.yaml"
CHECK_KINDS = ("http", "mysql", "tcp", "log_pipeline", "registry", "harbor")
# Setup actions that ``x-playground.setup`` may name; playground.setup runs them.
SETUP_ACTIONS = ("harbor",)
_PORT_SHORT = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(?P<host>\d+):)?(?P<container>\d+)"
    r"(?:/(?P<protocol>tcp|udp))?$"
)

# A repository path of lower-case components, a colon and a tag, as the
# distribution specification defines them.
_REPOSITORY_TAG = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r":[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
)


@dataclass(frozen=True)
class HealthCheck:
    """A check that proves one service works, addressed by its container port."""

    service: str
    kind: str
    port: int
    path: str = "/"
    expect_status: int = 200
    user: str | None = None
    database: str | None = None
    password_secret: str | None = None
    sink: str | None = None
    within: float = 10.0
    probe: str | None = None
    project: str | None = None


@dataclass(frozen=True)
class MirrorSpec:
    """The registry mirror a stack serves: which service and container port
    serve the registry API, the repository path that relocated references
    start with (empty for a registry that mirrors at its root), and the
    environment variable of that service that receives the upstream URL."""

    service: str
    port: int
    path: str = ""
    upstream_variable: str | None = None


@dataclass(frozen=True)
class PublishedPort:
    """A container port published on the host; ``host_ip`` None means the
    configured bind address (127.0.0.1 unless set otherwise)."""

    service: str
    container_port: int
    host_port: int | None
    host_ip: str | None = None
    protocol: str = "tcp"


@dataclass
class Stack:
    """A loaded, validated stack definition."""

    name: str
    file: Path
    description: str
    compose: dict[str, Any]
    checks: list[HealthCheck] = field(default_factory=list)
    generated_secrets: list[str] = field(default_factory=list)
    mirror: MirrorSpec | None = None
    setup: str | None = None
    backends: list[str] = field(default_factory=lambda: list(KNOWN_BACKENDS))
    # How commands name the stack: its name, or the path of a user's file.
    argument: str = ""

    @property
    def directory(self) -> Path:
        return self.file.parent

    @property
    def command_name(self) -> str:
        """Return the STACK argument that names this stack in a command."""
        return self.argument or self.name

    @property
    def services(self) -> list[str]:
        return list(self.compose["services"])

    @property
    def one_shot_services(self) -> set[str]:
        """Services that run once and exit: those another service depends on
        with ``condition: service_completed_successfully``, Compose's term."""
        found = set()
        for spec in self.compose["services"].values():
            depends_on = spec.get("depends_on")
            if not isinstance(depends_on, dict):
                continue
            for dependency, options in depends_on.items():
                if (options or {}).get("condition") == "service_completed_successfully":
                    found.add(dependency)
        return found

    def images(self) -> dict[str, str]:
        """Return the image reference of each service."""
        return {name: spec["image"] for name, spec in self.compose["services"].items()}

    def published_ports(self) -> list[PublishedPort]:
        ports = []
        for service, spec in self.compose["services"].items():
            for index, entry in enumerate(spec.get("ports", [])):
                where = f"services.{service}.ports[{index}]"
                ports.append(parse_port(entry, service, self.file, where))
        return ports

    def require_backend(self, backend: str, hint: str) -> None:
        """Raise UsageError, with ``hint``, unless the stack runs on ``backend``."""
        if backend not in self.backends:
            raise UsageError(
                f"stack {self.name} runs on {', '.join(self.backends)} only, "
                f"not on {backend}",
                hint=hint,
            )

    def checks_for(self, service: str) -> list[HealthCheck]:
        return [check for check in self.checks if check.service == service]


_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)")
_SECONDS_PER_UNIT = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
# The healthcheck keys that hold a duration.
_HEALTHCHECK_DURATIONS = ("interval", "timeout", "start_period", "start_interval")
# The names Compose looks for in a project folder, in its order.
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def list_stacks(stacks_dir: Path) -> list[str]:
    """Return the names of the stacks shipped in ``stacks_dir``, sorted."""
    if not stacks_dir.is_dir():
        return []
    return sorted(p.parent.name for p in stacks_dir.glob(f"*/{STACK_FILE}"))


def load_stack(name_or_path: str, stacks_dir: Path) -> Stack:
    """Load a shipped stack by name, or a Compose file by path.

    Raises UsageError for an unknown name and ConfigError for a malformed file.
    """
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        file = Path(name_or_path).expanduser().resolve()
        if file.is_dir():
            found = [file / name for name in COMPOSE_FILE_NAMES if (file / name).is_file()]
            if not found:
                raise UsageError(
                    f"no Compose file in the folder {name_or_path}",
                    hint="expected one of: " + ", ".join(COMPOSE_FILE_NAMES),
                )
            file = found[0]
        if not file.is_file():
            raise UsageError(f"Compose file not found: {name_or_path}")
        stack = parse_stack(file, _name_from_path(file))
        declared = stack.compose.get("name")
        if declared is not None:
            _expect(
                isinstance(declared, str) and _PROJECT_NAME.fullmatch(declared) is not None,
                file,
                "name",
                "a project name of lowercase letters, digits, '-' and '_'",
                declared,
            )
            stack = dataclasses.replace(stack, name=declared)
        if stack.name in list_stacks(stacks_dir):
            raise UsageError(
                f"{name_or_path} would run as stack {stack.name!r}, the name of a "
                "shipped stack",
                hint="give it a stack name of its own with a top-level 'name:' key",
            )
        return dataclasses.replace(stack, argument=name_or_path)

    file = stacks_dir / name_or_path / STACK_FILE
    if not file.is_file():
        known = ", ".join(list_stacks(stacks_dir)) or "none found in " + str(stacks_dir)
        raise UsageError(
            f"unknown stack {name_or_path!r}; known stacks: {known}",
            hint="run 'playground stacks' to list them with their backends",
        )
    return parse_stack(file, name_or_path)


def _name_from_path(file: Path) -> str:
    base = file.parent.name if file.stem in ("compose", "docker-compose") else file.stem
    name = re.sub(r"[^a-z0-9_-]", "-", base.lower()).strip("-_")
    return name or "compose"


def parse_stack(file: Path, name: str) -> Stack:
    """Parse and validate one stack file."""
    try:
        document = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: invalid YAML: {error}") from error
    except OSError as error:
        raise ConfigError(f"{file}: cannot read: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{file}: invalid text: not UTF-8 ({error.reason})") from error

    _expect(isinstance(document, dict), file, "(top level)", "a mapping", document)
    document = interpolate(document, variables_for(file), file)
    services = document.get("services")
    _expect(
        isinstance(services, dict) and bool(services),
        file,
        "services",
        "a mapping of service names to definitions",
        services,
    )
    for service, spec in services.items():
        _validate_service(file, service, spec)

    meta = document.get("x-playground") or {}
    _expect(isinstance(meta, dict), file, "x-playground", "a mapping", meta)
    description = meta.get("description", "")
    _expect(isinstance(description, str), file, "x-playground.description", "a string", description)

    generated = _parse_secrets(file, document.get("secrets") or {})
    checks = _parse_checks(file, meta.get("checks") or [], services, generated)
    mirror = _parse_mirror(file, meta.get("mirror"), services)
    setup = meta.get("setup")
    _expect(
        setup is None or setup in SETUP_ACTIONS,
        file,
        "x-playground.setup",
        "one of the setup actions: " + ", ".join(SETUP_ACTIONS),
        setup,
    )
    backends = meta.get("backends", list(KNOWN_BACKENDS))
    _expect(
        isinstance(backends, list) and bool(backends) and set(backends) <= set(KNOWN_BACKENDS),
        file,
        "x-playground.backends",
        "a list of the backends the stack runs on, of: " + ", ".join(KNOWN_BACKENDS),
        backends,
    )
    stack = Stack(
        name=name,
        file=file,
        description=description,
        compose=document,
        checks=checks,
        generated_secrets=generated,
        mirror=mirror,
        setup=setup,
        backends=backends,
    )
    published = {(p.service, p.container_port) for p in stack.published_ports()}
    if mirror is not None:
        _expect(
            (mirror.service, mirror.port) in published,
            file,
            "x-playground.mirror.port",
            f"a container port that services.{mirror.service}.ports publishes",
            mirror.port,
        )
    for index, check in enumerate(checks):
        kind = check.kind
        _expect(
            (check.service, check.port) in published,
            file,
            f"x-playground.checks[{index}].{kind}.port",
            f"a container port that services.{check.service}.ports publishes",
            check.port,
        )
    return stack


def _validate_service(file: Path, service: str, spec: Any) -> None:
    where = f"services.{service}"
    _expect(isinstance(spec, dict), file, where, "a mapping", spec)
    image = spec.get("image")
    _expect(
        isinstance(image, str) and bool(image.strip()),
        file,
        f"{where}.image",
        "an image reference such as nginx:1.27.3 (playground does not build images)",
        image,
    )
    ports = spec.get("ports", [])
    _expect(isinstance(ports, list), file, f"{where}.ports", "a list", ports)
    for index, entry in enumerate(ports):
        parse_port(entry, service, file, f"{where}.ports[{index}]")
    healthcheck = spec.get("healthcheck") or {}
    _expect(isinstance(healthcheck, dict), file, f"{where}.healthcheck", "a mapping", healthcheck)
    for key in _HEALTHCHECK_DURATIONS:
        if key in healthcheck:
            _expect(
                _is_duration(healthcheck[key]),
                file,
                f"{where}.healthcheck.{key}",
                "a duration such as 1s, 500ms or 1m30s",
                healthcheck[key],
            )
    retries = healthcheck.get("retries")
    _expect(
        retries is None or (str(retries).isdigit() and not isinstance(retries, bool)),
        file,
        f"{where}.healthcheck.retries",
        "a whole number of retries",
        retries,
    )
    replicas = (spec.get("deploy") or {}).get("replicas")
    _expect(
        replicas is None or (str(replicas).isdigit() and not isinstance(replicas, bool)),
        file,
        f"{where}.deploy.replicas",
        "a whole number of replicas, 0 or more",
        replicas,
    )


def _parse_secrets(file: Path, secrets: Any) -> list[str]:
    _expect(isinstance(secrets, dict), file, "secrets", "a mapping", secrets)
    generated = []
    for name, spec in secrets.items():
        where = f"secrets.{name}"
        _expect(isinstance(spec, dict), file, where, "a mapping", spec)
        if "x-playground-generate" in spec:
            kind = spec["x-playground-generate"]
            _expect(kind == "password", file, f"{where}.x-playground-generate", "password", kind)
            generated.append(name)
            continue
        sources = {"file", "environment", "external", "name"} & spec.keys()
        _expect(
            bool(sources),
            file,
            where,
            "one of file, environment, external, or x-playground-generate: password",
            spec,
        )
    return generated


def _parse_checks(
    file: Path, entries: Any, services: dict[str, Any], secrets: list[str]
) -> list[HealthCheck]:
    _expect(isinstance(entries, list), file, "x-playground.checks", "a list", entries)
    checks = []
    for index, entry in enumerate(entries):
        where = f"x-playground.checks[{index}]"
        _expect(isinstance(entry, dict), file, where, "a mapping", entry)
        service = _service_key(file, where, entry, services)
        kinds = [kind for kind in CHECK_KINDS if kind in entry]
        _expect(
            len(kinds) == 1,
            file,
            where,
            "exactly one check kind of: " + ", ".join(CHECK_KINDS),
            entry,
        )
        kind = kinds[0]
        options = entry[kind]
        _expect(isinstance(options, dict), file, f"{where}.{kind}", "a mapping", options)
        checks.append(_parse_check(file, f"{where}.{kind}", service, kind, options, secrets))
        if kind == "log_pipeline":
            _expect(
                checks[-1].sink in services,
                file,
                f"{where}.log_pipeline.sink",
                "the service whose output shows the records: " + ", ".join(services),
                checks[-1].sink,
            )
    return checks


def _service_key(file: Path, where: str, entry: dict, services: dict[str, Any]) -> str:
    """Return ``entry["service"]`` once it names one of the stack's services."""
    service = entry.get("service")
    _expect(
        service in services,
        file,
        f"{where}.service",
        "one of the stack's services: " + ", ".join(services),
        service,
    )
    return service


def _parse_mirror(file: Path, meta: Any, services: dict[str, Any]) -> MirrorSpec | None:
    if meta is None:
        return None
    where = "x-playground.mirror"
    _expect(isinstance(meta, dict), file, where, "a mapping", meta)
    service = _service_key(file, where, meta, services)
    port = meta.get("port")
    _expect(_is_port(port), file, f"{where}.port", "a container port number", port)
    path = meta.get("path", "")
    _expect(
        isinstance(path, str) and not path.startswith("/") and not path.endswith("/"),
        file,
        f"{where}.path",
        "a repository path without leading or trailing /",
        path,
    )
    variable = meta.get("upstream_variable")
    _expect(
        variable is None or (isinstance(variable, str) and bool(variable)),
        file,
        f"{where}.upstream_variable",
        "the name of an environment variable",
        variable,
    )
    return MirrorSpec(service, port, path, variable)


def _parse_check(
    file: Path, where: str, service: str, kind: str, options: dict, secrets: list[str]
) -> HealthCheck:
    port = options.get("port")
    _expect(_is_port(port), file, f"{where}.port", "a container port number", port)
    if kind == "tcp":
        return HealthCheck(service, kind, port)
    if kind in ("registry", "harbor"):
        probe = options.get("probe")
        _expect(
            isinstance(probe, str) and _REPOSITORY_TAG.match(probe) is not None,
            file,
            f"{where}.probe",
            "a repository and tag in the registry, such as library/busybox:1.37.0",
            probe,
        )
        if kind == "registry":
            return HealthCheck(service, kind, port, probe=probe)
        project = options.get("project")
        _expect(
            isinstance(project, str) and _REPOSITORY_TAG.match(f"{project}:x") is not None,
            file,
            f"{where}.project",
            "the name of the Harbor proxy-cache project, such as dockerhub",
            project,
        )
        return HealthCheck(service, kind, port, probe=probe, project=project)
    if kind == "log_pipeline":
        within = options.get("within", 10)
        _expect(
            isinstance(within, (int, float)) and not isinstance(within, bool) and within > 0,
            file,
            f"{where}.within",
            "a positive number of seconds",
            within,
        )
        path = _url_path(file, where, options)
        return HealthCheck(
            service, kind, port, path=path, sink=options.get("sink"), within=float(within)
        )
    if kind == "http":
        path = _url_path(file, where, options)
        status = options.get("expect_status", 200)
        _expect(
            isinstance(status, int) and 100 <= status <= 599,
            file,
            f"{where}.expect_status",
            "an HTTP status code",
            status,
        )
        return HealthCheck(service, kind, port, path=path, expect_status=status)

    for key in ("user", "database"):
        value = options.get(key)
        _expect(isinstance(value, str) and bool(value), file, f"{where}.{key}", "a name", value)
    secret = options.get("password_secret")
    _expect(
        secret in secrets,
        file,
        f"{where}.password_secret",
        "a generated secret of this stack: " + (", ".join(secrets) or "none declared"),
        secret,
    )
    return HealthCheck(
        service,
        kind,
        port,
        user=options["user"],
        database=options["database"],
        password_secret=secret,
    )


def _url_path(file: Path, where: str, options: dict) -> str:
    path = options.get("path", "/")
    _expect(
        isinstance(path, str) and path.startswith("/"),
        file,
        f"{where}.path",
        "a URL path starting with /",
        path,
    )
    return path


def parse_port(entry: Any, service: str, file: Path, where: str) -> PublishedPort:
    """Parse one Compose ``ports`` entry (short or long syntax)."""
    if isinstance(entry, int) and _is_port(entry):
        return PublishedPort(service, entry, None)
    if isinstance(entry, str):
        match = _PORT_SHORT.match(entry.strip())
        _expect(
            match is not None,
            file,
            where,
            '"[IP:][HOST:]CONTAINER[/PROTOCOL]" with single ports (no ranges)',
            entry,
        )
        host = int(match["host"]) if match["host"] else None
        container = int(match["container"])
        ip = match["ip"].strip("[]") if match["ip"] else None
        _expect(
            _is_port(container) and (host is None or _is_port(host)) and _is_ip(ip),
            file,
            where,
            "ports from 1 to 65535 and, if given, an IP address such as 127.0.0.1",
            entry,
        )
        return PublishedPort(service, container, host, ip, match["protocol"] or "tcp")
    _expect(isinstance(entry, dict), file, where, "a string, a number or a mapping", entry)
    target = entry.get("target")
    _expect(_is_port(target), file, f"{where}.target", "a container port number", target)
    published = entry.get("published")
    if isinstance(published, str) and published.isdigit():
        published = int(published)
    _expect(
        published is None or _is_port(published),
        file,
        f"{where}.published",
        "a single host port number",
        published,
    )
    host_ip = entry.get("host_ip")
    _expect(_is_ip(host_ip), file, f"{where}.host_ip", "an IP address such as 127.0.0.1", host_ip)
    return PublishedPort(service, target, published, host_ip, entry.get("protocol", "tcp"))


def parse_duration(text: str) -> float:
    """Return a Compose duration ("1m30s", "500ms") in seconds; ValueError
    for anything else."""
    text = str(text).strip()
    matches = list(_DURATION.finditer(text))
    if not matches or "".join(m.group(0) for m in matches) != text:
        raise ValueError(
            f"invalid duration {text!r}: expected a form such as 1s, 500ms or 1m30s"
        )
    return sum(float(m.group(1)) * _SECONDS_PER_UNIT[m.group(2)] for m in matches)


def _is_duration(value: Any) -> bool:
    try:
        parse_duration(value)
    except ValueError:
        return False
    return True


def _is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _is_ip(value: Any) -> bool:
    """Return whether ``value`` is None (no address given) or an IP address."""
    import ipaddress

    if value is None:
        return True
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _expect(condition: bool, file: Path, key: str, expected: str, value: Any) -> None:
    if not condition:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise ConfigError(f"{file}: {key}: expected {expected}, got {shown}")
