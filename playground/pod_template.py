"""One Compose service translated into a Kubernetes container and the volumes
its pod needs.

Each translation that changes or drops something appends a note naming the
service and the key, in the form ``export`` lists and ``up`` warns with.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.errors import ConfigError
from playground.stack import parse_duration

# The folder where Compose mounts a service's secrets unless an entry names a target.
SECRETS_DIR = "/run/secrets"
# The Secret that contains a stack's credentials, in the stack's namespace.
SECRET_NAME = "generated-secrets"
# Kubernetes defaults of probes, used where Compose leaves a field out.
DEFAULT_PROBE_PERIOD = 30
DEFAULT_PROBE_TIMEOUT = 30
DEFAULT_PROBE_RETRIES = 3
# Compose keys that become the container's securityContext.
SECURITY_KEYS = (
    "cap_drop",
    "cap_add",
    "security_opt",
    "read_only",
    "privileged",
    "user",
)
# Compose keys the translation uses; every other service key is reported
# as dropped.
TRANSLATED_KEYS = frozenset(
    {
        "image",
        "environment",
        "command",
        "entrypoint",
        "ports",
        "expose",
        "volumes",
        "secrets",
        "healthcheck",
        "cap_drop",
        "cap_add",
        "security_opt",
        "read_only",
        "user",
        "working_dir",
        "depends_on",
        "labels",
        "deploy",
        "restart",
        "logging",
        "privileged",
        "tmpfs",
    }
)


@dataclass
class PodParts:
    """A container and what its pod needs besides it: volumes, ConfigMap data
    read from bind-mounted files, the named volumes it claims, and the bind
    sources that do not exist."""

    container: dict[str, Any]
    volumes: list[dict[str, Any]] = field(default_factory=list)
    config_data: dict[str, str] = field(default_factory=dict)
    claims: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def dns_label(name: str) -> str:
    """Return ``name`` as a DNS-1123 label: lower case, letters, digits and
    hyphens, starting with a letter, at most 63 characters."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if not label or not label[0].isalpha():
        label = "s-" + label
    return label[:63].rstrip("-")


def config_map_name(service: str) -> str:
    return f"{dns_label(service)}-config"


def claim_name(volume: str) -> str:
    return dns_label(volume)


def container_for(
    service: str,
    spec: dict[str, Any],
    image: str,
    stack_dir: Path,
    named_volumes: set[str],
    ports: list[int],
    notes: list[str],
    config_files: dict[str, Path],
) -> PodParts:
    """Translate one Compose service into a container and its pod's volumes.

    ``ports`` are the container ports the service's Service exposes.
    ``config_files`` maps a container path to a file that replaces the
    Compose bind mount at that path (or adds one).
    """
    container: dict[str, Any] = {
        "name": dns_label(service),
        "image": image,
        "imagePullPolicy": "IfNotPresent",
    }
    parts = PodParts(container)

    _command(service, spec, container)
    env = _environment(service, spec.get("environment"), notes)
    if env:
        container["env"] = env
    if spec.get("working_dir"):
        container["workingDir"] = str(spec["working_dir"])
    if ports:
        container["ports"] = [{"containerPort": port} for port in ports]
    probe = readiness_probe(spec.get("healthcheck"))
    if probe:
        container["readinessProbe"] = probe
        notes.append(f"{service}: healthcheck became a readiness probe")
    security = _security_context(service, spec, notes)
    if security:
        container["securityContext"] = security
        used = [key for key in SECURITY_KEYS if key in spec]
        notes.append(f"{service}: {', '.join(used)} became the securityContext")

    mounts: list[dict[str, Any]] = []
    _mount_volumes(
        service, spec, stack_dir, named_volumes, config_files, parts, mounts, notes
    )
    _mount_secrets(service, spec.get("secrets") or [], parts, mounts)
    if mounts:
        container["volumeMounts"] = mounts
    _note_volumes(service, parts, notes)
    for path in parts.missing:
        notes.append(
            f"{service}: bind mount source {path} does not exist, so an empty "
            "folder (emptyDir) is mounted in its place, as Compose would create one"
        )
    _note_dropped(service, spec, notes)
    return parts


def _command(service: str, spec: dict[str, Any], container: dict[str, Any]) -> None:
    # Compose's entrypoint replaces the image's ENTRYPOINT, as Kubernetes'
    # command does; Compose's command replaces CMD, as args does.
    for key, field_name in (("entrypoint", "command"), ("command", "args")):
        value = spec.get(key)
        if value is None:
            continue
        words = (
            shlex.split(value) if isinstance(value, str) else [str(v) for v in value]
        )
        container[field_name] = [_unescape(word) for word in words]


def _environment(
    service: str, environment: Any, notes: list[str]
) -> list[dict[str, str]]:
    if isinstance(environment, dict):
        items = list(environment.items())
    else:
        items = [tuple(str(entry).partition("=")[::2]) for entry in environment or []]
    env = []
    for name, value in items:
        if value is None:
            notes.append(
                f"{service}: dropped environment {name} (it takes its value from the "
                "host's environment, which the cluster does not have)"
            )
            continue
        env.append({"name": str(name), "value": _unescape(str(value))})
    return env


def _unescape(text: str) -> str:
    """Return Compose text with ``$$`` (Compose's escape for ``$``) undone."""
    return text.replace("$$", "$")


def readiness_probe(healthcheck: Any) -> dict[str, Any] | None:
    """Translate a Compose healthcheck into a readiness probe, or None.

    Compose's ``start_period`` has no counterpart: a pod simply stays
    unready until the probe passes, however long that takes.
    """
    if not isinstance(healthcheck, dict) or healthcheck.get("disable"):
        return None
    test = healthcheck.get("test")
    if isinstance(test, str):
        command = ["/bin/sh", "-c", test]
    elif isinstance(test, list) and test and test[0] == "CMD":
        command = [str(word) for word in test[1:]]
    elif isinstance(test, list) and len(test) == 2 and test[0] == "CMD-SHELL":
        command = ["/bin/sh", "-c", str(test[1])]
    else:
        return None
    return {
        "exec": {"command": [_unescape(word) for word in command]},
        "periodSeconds": _whole_seconds(
            healthcheck.get("interval"), DEFAULT_PROBE_PERIOD
        ),
        "timeoutSeconds": _whole_seconds(
            healthcheck.get("timeout"), DEFAULT_PROBE_TIMEOUT
        ),
        "failureThreshold": int(healthcheck.get("retries", DEFAULT_PROBE_RETRIES)),
    }


def _whole_seconds(value: Any, default: int) -> int:
    """Probe fields count whole seconds, at least 1."""
    if value is None:
        return default
    return max(1, round(parse_duration(value)))


def _security_context(
    service: str, spec: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    context: dict[str, Any] = {}
    capabilities = {}
    if spec.get("cap_drop"):
        capabilities["drop"] = [str(c).removeprefix("CAP_") for c in spec["cap_drop"]]
    if spec.get("cap_add"):
        capabilities["add"] = [str(c).removeprefix("CAP_") for c in spec["cap_add"]]
    if capabilities:
        context["capabilities"] = capabilities
    for option in spec.get("security_opt") or []:
        if str(option).replace("=", ":") in (
            "no-new-privileges:true",
            "no-new-privileges",
        ):
            context["allowPrivilegeEscalation"] = False
        else:
            notes.append(
                f"{service}: dropped security_opt {option} (no pod equivalent)"
            )
    if spec.get("read_only"):
        context["readOnlyRootFilesystem"] = True
    if spec.get("privileged"):
        context["privileged"] = True
    user = spec.get("user")
    if user is not None:
        _run_as(service, str(user), context, notes)
    return context


def _run_as(service: str, user: str, context: dict[str, Any], notes: list[str]) -> None:
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        notes.append(
            f"{service}: dropped user {user} (Kubernetes takes numeric ids only; "
            "the image's own user applies)"
        )
        return
    context["runAsUser"] = int(uid)
    if gid:
        context["runAsGroup"] = int(gid)


def _mount_volumes(
    service: str,
    spec: dict[str, Any],
    stack_dir: Path,
    named_volumes: set[str],
    config_files: dict[str, Path],
    parts: PodParts,
    mounts: list[dict[str, Any]],
    notes: list[str],
) -> None:
    replaced = dict(config_files)
    for entry in spec.get("volumes") or []:
        source, target, read_only, kind = _volume_entry(entry)
        if target in replaced:
            continue
        if kind == "volume" and source in named_volumes:
            _mount_claim(source, target, read_only, parts, mounts)
        elif kind == "bind":
            _mount_file(
                service, stack_dir / Path(source).expanduser(), target, parts, mounts
            )
        else:
            name = f"scratch-{len(parts.volumes)}"
            parts.volumes.append({"name": name, "emptyDir": {}})
            mounts.append({"name": name, "mountPath": target})
            notes.append(
                f"{service}: volume at {target} became an emptyDir (its data lives as "
                "long as the pod)"
            )
    for target, path in replaced.items():
        _mount_file(service, path, target, parts, mounts)
    for target in spec.get("tmpfs") or []:
        name = f"tmpfs-{len(parts.volumes)}"
        parts.volumes.append({"name": name, "emptyDir": {"medium": "Memory"}})
        mounts.append({"name": name, "mountPath": str(target).split(":")[0]})


def _volume_entry(entry: Any) -> tuple[str, str, bool, str]:
    """Return (source, target, read-only, kind) of a Compose ``volumes``
    entry; kind is "bind", "volume" or "anonymous"."""
    if isinstance(entry, dict):
        source = str(entry.get("source") or "")
        kind = entry.get("type") or ("volume" if source else "anonymous")
        return source, str(entry["target"]), bool(entry.get("read_only")), kind
    parts = str(entry).split(":")
    if len(parts) == 1:
        return "", parts[0], False, "anonymous"
    source, target = parts[0], parts[1]
    read_only = len(parts) > 2 and "ro" in parts[2].split(",")
    kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    return source, target, read_only, kind


def _mount_claim(
    volume: str,
    target: str,
    read_only: bool,
    parts: PodParts,
    mounts: list[dict[str, Any]],
) -> None:
    name = claim_name(volume)
    if volume not in parts.claims:
        parts.claims.append(volume)
        parts.volumes.append(
            {"name": name, "persistentVolumeClaim": {"claimName": name}}
        )
    mount = {"name": name, "mountPath": target}
    if read_only:
        mount["readOnly"] = True
    mounts.append(mount)


def _mount_file(
    service: str, path: Path, target: str, parts: PodParts, mounts: list[dict[str, Any]]
) -> None:
    """Put a bind-mounted file, or the files at the top of a bind-mounted
    folder, into the service's ConfigMap and mount them at ``target``,
    read-only.

    Raises ConfigError for a source that is neither a file nor a folder
    (missing, or a socket), which a ConfigMap cannot carry.
    """
    path = path.resolve()
    if path.is_file():
        key = _add_config_key(parts, path)
        if not any(volume["name"] == "config" for volume in parts.volumes):
            config_map = {"name": config_map_name(service)}
            parts.volumes.append({"name": "config", "configMap": config_map})
        mounts.append(
            {"name": "config", "mountPath": target, "subPath": key, "readOnly": True}
        )
    elif path.is_dir():
        # NOTE: subfolders are left out, and a ConfigMap is limited to 1 MiB.
        files = sorted(child for child in path.iterdir() if child.is_file())
        items = [{"key": _add_config_key(parts, f), "path": f.name} for f in files]
        name = f"config-{len(parts.volumes)}"
        volume = {"name": config_map_name(service), "items": items}
        parts.volumes.append({"name": name, "configMap": volume})
        mounts.append({"name": name, "mountPath": target, "readOnly": True})
    elif not path.exists():
        # Compose creates an empty folder for a missing bind source; so
        # does this, with an emptyDir. Stacks whose files playground
        # generates during up render before those files exist.
        name = f"scratch-{len(parts.volumes)}"
        parts.volumes.append({"name": name, "emptyDir": {}})
        mounts.append({"name": name, "mountPath": target})
        parts.missing.append(str(path))
    else:
        raise ConfigError(
            f"services.{service}.volumes: {path} is neither a file nor a folder; on "
            "Kubernetes a bind mount becomes a ConfigMap, which carries files only"
        )


def _add_config_key(parts: PodParts, path: Path) -> str:
    """Add a file to the service's ConfigMap and return its key."""
    key = dns_key(path.name)
    if key in parts.config_data:
        key = f"{len(parts.config_data)}-{key}"
    parts.config_data[key] = path.read_text()
    return key


def _mount_secrets(
    service: str, entries: list[Any], parts: PodParts, mounts: list[dict[str, Any]]
) -> None:
    """Mount each secret of the service as a file, where Compose puts it."""
    for entry in entries:
        source = entry["source"] if isinstance(entry, dict) else str(entry)
        target = entry.get("target", source) if isinstance(entry, dict) else source
        path = target if target.startswith("/") else f"{SECRETS_DIR}/{target}"
        if not any(volume["name"] == "secrets" for volume in parts.volumes):
            # Mode 0444: entrypoints such as MySQL's read the file again after
            # dropping root; the volume is visible to this pod only.
            parts.volumes.append(
                {
                    "name": "secrets",
                    "secret": {"secretName": SECRET_NAME, "defaultMode": 0o444},
                }
            )
        mounts.append(
            {
                "name": "secrets",
                "mountPath": path,
                "subPath": dns_key(source),
                "readOnly": True,
            }
        )


def dns_key(name: str) -> str:
    """Return ``name`` as a Secret or ConfigMap key."""
    return re.sub(r"[^-._a-zA-Z0-9]", "-", name)


def _note_volumes(service: str, parts: PodParts, notes: list[str]) -> None:
    for volume in parts.claims:
        notes.append(
            f"{service}: volume {volume} became the PersistentVolumeClaim {claim_name(volume)}"
        )
    if parts.config_data:
        notes.append(
            f"{service}: bind-mounted files became keys of the ConfigMap "
            f"{config_map_name(service)}: {', '.join(parts.config_data)}"
        )


def _note_dropped(service: str, spec: dict[str, Any], notes: list[str]) -> None:
    for key in spec:
        if key not in TRANSLATED_KEYS and not key.startswith("x-"):
            notes.append(f"{service}: dropped {key} (not translated to Kubernetes)")
