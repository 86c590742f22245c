"""The connector's persistent catalog: offered resources, their artifact files, agreements."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import mimetypes
import os
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ids_mock import jsonld

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class CatalogError(ValueError):
    """An offered resource or file that the catalog refuses (the API answers 400)."""


class UnknownCatalog(LookupError):
    """A `catalog` header that names no catalog of this connector."""


def _artifacts(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for representation in resource.get("ids:representation") or []:
        if isinstance(representation, dict):
            for instance in representation.get("ids:instance") or []:
                if isinstance(instance, dict):
                    yield instance


def _ids_within(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (`@id`, object) pair nested in a resource: offers, representations, artifacts."""
    if isinstance(node, dict):
        node_id = node.get("@id")
        if isinstance(node_id, str) and len(node) > 1:
            yield node_id, node
        for value in node.values():
            yield from _ids_within(value)
    elif isinstance(node, list):
        for item in node:
            yield from _ids_within(item)


class CatalogStore:
    """Resources and agreements of one connector, kept in `catalog.json` in the data folder.

    Every change is written to a temporary file and renamed over the old one, so a crash or a
    refused request never leaves a half-written or modified catalog behind.
    """

    def __init__(self, data_dir: Path, artifacts_dir: Path, connector_id: str) -> None:
        self.data_dir = data_dir
        self.artifacts_dir = artifacts_dir
        self.connector_id = connector_id
        self.path = data_dir / "catalog.json"
        self._lock = threading.RLock()
        data_dir.mkdir(parents=True, exist_ok=True)
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        if self.path.is_file():
            self._state = json.loads(self.path.read_text(encoding="utf-8"))
        else:
            self._state = {
                "catalog_id": jsonld.autogen_id("resourceCatalog"),
                "resources": [],
                "agreements": {},
            }
            self._save()

    # --- reading -------------------------------------------------------------------------------
    @property
    def catalog_id(self) -> str:
        return self._state["catalog_id"]

    def resources(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._state["resources"])

    def description(self, access_url: str, role: str) -> dict[str, Any]:
        return jsonld.connector(
            self.connector_id, self.catalog_id, self.resources(), access_url, role
        )

    def find_element(self, element_id: str) -> dict[str, Any] | None:
        """A resource, or an offer, representation or artifact inside one, by its `@id`."""
        with self._lock:
            for resource in self._state["resources"]:
                if resource.get("@id") == element_id:
                    return copy.deepcopy(resource)
            for resource in self._state["resources"]:
                for node_id, node in _ids_within(resource):
                    if node_id == element_id:
                        return copy.deepcopy(node)
        return None

    def find_artifact(self, artifact_id: str) -> dict[str, Any] | None:
        with self._lock:
            for resource in self._state["resources"]:
                for artifact in _artifacts(resource):
                    if artifact.get("@id") == artifact_id:
                        return copy.deepcopy(artifact)
        return None

    def artifact_file(self, artifact: dict[str, Any]) -> Path | None:
        """The file behind an artifact, None when it only describes something (`mlflow:...`)."""
        name = artifact.get("ids:fileName")
        if not name:
            return None
        return self._inside_artifacts(str(name))

    def agreement(self, agreement_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._state["agreements"].get(agreement_id)
            return copy.deepcopy(found) if found else None

    # --- changing ------------------------------------------------------------------------------
    def put_resource(self, resource: dict[str, Any], catalog_id: str) -> None:
        """Add a resource, or replace the one with the same `@id` (the ECC's POST semantics)."""
        if catalog_id != self.catalog_id:
            raise UnknownCatalog(catalog_id)
        self._validate(resource)
        with self._lock:
            resources = self._state["resources"]
            for index, existing in enumerate(resources):
                if existing.get("@id") == resource["@id"]:
                    resources[index] = resource
                    break
            else:
                resources.append(resource)
            self._save()

    def delete_resource(self, resource_id: str) -> bool:
        """Remove a resource, and the files in the artifacts folder that no resource uses any more."""
        with self._lock:
            removed = [r for r in self._state["resources"] if r.get("@id") == resource_id]
            if not removed:
                return False
            self._state["resources"] = [
                r for r in self._state["resources"] if r.get("@id") != resource_id
            ]
            self._save()
            still_used = {a.get("ids:fileName") for r in self._state["resources"]
                          for a in _artifacts(r)}
            for artifact in _artifacts(removed[0]):
                name = artifact.get("ids:fileName")
                if name and name not in still_used:
                    with contextlib.suppress(CatalogError, OSError):
                        self._inside_artifacts(name).unlink(missing_ok=True)
            return True

    def add_agreement(self, agreement_id: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._state["agreements"][agreement_id] = record
            self._save()

    def confirm_agreement(self, agreement_id: str) -> bool:
        with self._lock:
            record = self._state["agreements"].get(agreement_id)
            if record is None:
                return False
            record["confirmed"] = True
            self._save()
            return True

    def start_upload(self, file_name: str) -> Upload:
        """A new artifact file, written in chunks, offered only once it is complete."""
        return Upload(self, file_name)

    def offer_file(self, path: Path, title: str, description: str = "") -> dict[str, Any]:
        upload = self.start_upload(path.name)
        try:
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    upload.write(chunk)
            return upload.commit(title, description)
        finally:
            upload.abort()

    def offer_stored_file(
        self, stored: str, title: str, description: str, size: int, sha256: str
    ) -> dict[str, Any]:
        media_type = mimetypes.guess_type(stored)[0] or "application/octet-stream"
        resource = jsonld.text_resource(
            provider=self.connector_id,
            title=title,
            description=description or f"File {stored} offered by the edge connector",
            artifact_id=f"http://w3id.org/engrd/connector/artifact/{stored}",
            file_name=stored,
            byte_size=size,
            checksum=f"sha256:{sha256}",
            media_type=media_type,
        )
        self.put_resource(resource, self.catalog_id)
        return resource

    def seed(self, path: Path | None, title: str) -> None:
        """At first start (an empty catalog) offer the configured example file."""
        if path is None or self._state["resources"]:
            return
        if not title.strip() or not path.is_file():
            log.warning("Not seeding the catalog: IDS_SEED_FILE %s or IDS_SEED_TITLE missing", path)
            return
        self.offer_file(path, title, f"Example dataset {path.name}")
        log.info("Seeded the catalog with %s as %r", path, title)

    # --- internals -----------------------------------------------------------------------------
    def _inside_artifacts(self, name: str) -> Path:
        root = self.artifacts_dir.resolve()
        # resolve() follows symbolic links, so a link that points outside is refused as well.
        candidate = (root / name).resolve()
        if not candidate.is_relative_to(root) or candidate == root:
            raise CatalogError(f"artifact location {name!r} is outside the data folder")
        return candidate

    def _validate(self, resource: dict[str, Any]) -> None:
        if not isinstance(resource, dict):
            raise CatalogError("a resource must be a JSON object")
        if not isinstance(resource.get("@id"), str) or not resource["@id"]:
            raise CatalogError("a resource needs an '@id'")
        for artifact in _artifacts(resource):
            name = artifact.get("ids:fileName")
            if name is None:
                continue
            if not isinstance(name, str) or not name:
                raise CatalogError("'ids:fileName' must be a file name")
            path = self._inside_artifacts(name)
            if not path.is_file():
                raise CatalogError(f"artifact file {name!r} does not exist in the data folder")

    def _save(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._state, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)



class Upload:
    """An artifact file being written into the artifacts folder; invisible until committed."""

    def __init__(self, store: CatalogStore, file_name: str) -> None:
        safe = _SAFE_NAME.sub("_", Path(file_name).name).strip("._") or "artifact"
        self.store = store
        self.stored = f"{uuid.uuid4().hex[:12]}-{safe}"
        self.partial = store.artifacts_dir / f".{self.stored}.part"
        self.size = 0
        self._digest = hashlib.sha256()
        self._out: BinaryIO | None = open(self.partial, "wb")  # noqa: SIM115 - closed in commit/abort

    def write(self, chunk: bytes) -> None:
        assert self._out is not None, "upload already finished"
        self._digest.update(chunk)
        self._out.write(chunk)
        self.size += len(chunk)

    def commit(self, title: str, description: str = "") -> dict[str, Any]:
        if not title.strip():
            raise CatalogError("a title is required")
        assert self._out is not None, "upload already finished"
        self._out.close()
        self._out = None
        os.replace(self.partial, self.store.artifacts_dir / self.stored)
        return self.store.offer_stored_file(
            self.stored, title, description, self.size, self._digest.hexdigest()
        )

    def abort(self) -> None:
        """Drop an unfinished upload; harmless after commit."""
        if self._out is not None:
            self._out.close()
            self._out = None
        self.partial.unlink(missing_ok=True)
