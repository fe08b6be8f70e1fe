"""The image map: one place that relocates every image reference a stack names.

An image map file is YAML with an ``images`` mapping from an upstream
reference to the reference to use instead::

    images:
      nginxinc/nginx-unprivileged:1.27.3-alpine: playground-offline/nginx:bookworm
      mysql:8.4.3: playground-offline/mariadb:bookworm

References are compared in their normalised form, so ``mysql:8.4.3`` and
``docker.io/library/mysql:8.4.3`` are the same key.

A map may also carry a registry mirror (``playground up --mirror``): every
Docker Hub reference then moves under the mirror's address, official images
under ``library/``, before the ``images`` entries apply to the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from playground.errors import ConfigError

DOCKER_HUB = "docker.io"
_HUB_ALIASES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


def normalise_reference(reference: str) -> str:
    """Return the fully qualified form of an image reference
    (``nginx:1.27`` becomes ``docker.io/library/nginx:1.27``)."""
    reference = reference.strip()
    for alias in _HUB_ALIASES:
        if reference.startswith(alias):
            reference = reference[len(alias) :]
            break
    else:
        first = reference.split("/", 1)[0]
        if "/" in reference and ("." in first or ":" in first or first == "localhost"):
            return reference
    if "/" not in reference:
        reference = "library/" + reference
    return f"{DOCKER_HUB}/{reference}"


@dataclass(frozen=True)
class ImageMap:
    """Exact relocations of image references; an empty map changes nothing."""

    images: dict[str, str] = field(default_factory=dict)
    source: Path | None = None
    mirror: str | None = None

    def relocate(self, reference: str) -> str:
        normalised = normalise_reference(reference)
        hub_prefix = DOCKER_HUB + "/"
        if self.mirror and normalised.startswith(hub_prefix):
            return f"{self.mirror}/{normalised[len(hub_prefix):]}"
        return self.images.get(normalised, reference)

    def with_mirror(self, prefix: str) -> ImageMap:
        """Return this map with Docker Hub references relocated under
        ``prefix``, a registry address with an optional repository path
        (``127.0.0.1:5000`` or ``127.0.0.1:8082/dockerhub``)."""
        return ImageMap(self.images, self.source, prefix.rstrip("/"))

    def relocated(self, references: dict[str, str]) -> dict[str, str]:
        """Return ``references`` (any key to image) with every image relocated."""
        return {key: self.relocate(image) for key, image in references.items()}


def load_image_map(path: Path | None) -> ImageMap:
    """Read an image map file; ``None`` gives the empty map."""
    if path is None:
        return ImageMap()
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(
            f"cannot read image map {path}: {error.strerror}",
            hint="check PLAYGROUND_IMAGE_MAP or --image-map; "
            "scripts/build-offline-images writes one",
        ) from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from error

    images = document.get("images") if isinstance(document, dict) else None
    if not isinstance(images, dict):
        raise ConfigError(
            f"{path}: images: expected a mapping of upstream image to replacement, "
            f"got {images!r}"
        )
    relocations = {}
    for upstream, replacement in images.items():
        if not (
            isinstance(upstream, str)
            and isinstance(replacement, str)
            and replacement.strip()
            and not any(c.isspace() for c in replacement.strip())
        ):
            raise ConfigError(
                f"{path}: images.{upstream}: expected an image reference string, "
                f"got {replacement!r}"
            )
        relocations[normalise_reference(upstream)] = replacement.strip()
    return ImageMap(relocations, path)
