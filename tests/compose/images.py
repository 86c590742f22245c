"""The images the Compose suite needs: the external ones (pulled, or stood in for) and our own.

Our images are built from their Dockerfiles as `make up` builds them, with the engine's layer
cache: an image whose folder did not change is not rebuilt.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from stack.compose import COMPOSE_FILES
from stack.settings import REPO_ROOT
from tests.compose.engine import Engine
from tests.compose.standins import ensure_standins


def compose_config(engine: Engine, env_file: Path) -> dict:
    """The Compose model with every profile, as `docker compose config` resolves it."""
    files = [arg for f in COMPOSE_FILES for arg in ("-f", str(f))]
    result = engine.docker("compose", "--project-directory", str(REPO_ROOT), *files,
                           "--env-file", str(env_file), "--profile", "celery",
                           "config", "--format", "json", capture_output=True, text=True)
    return json.loads(result.stdout)


def _base_images(context: Path) -> set[str]:
    text = (context / "Dockerfile").read_text()
    return set(re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE))


def plan(config: dict) -> tuple[dict[str, Path], set[str]]:
    """Our images (tag -> build context) and the external images they and the services use."""
    ours: dict[str, Path] = {}
    external: set[str] = set()
    for service in config["services"].values():
        if "build" in service:
            context = Path(service["build"]["context"])
            ours[service["image"]] = context
            external |= _base_images(context)
        else:
            external.add(service["image"])
    return ours, external - set(ours)


def missing(engine: Engine, images: set[str]) -> list[str]:
    return [image for image in sorted(images)
            if engine.docker("image", "inspect", image, check=False,
                             capture_output=True).returncode != 0]


def prepare_images(engine: Engine, env_file: Path) -> dict[str, Path]:
    """Make sure the engine holds every image the Compose files name; our images and contexts."""
    ours, external = plan(compose_config(engine, env_file))
    if engine.private:
        ensure_standins(engine, external)
    else:
        for image in missing(engine, external):
            engine.docker("pull", image)
    absent = missing(engine, external)
    if absent:
        raise RuntimeError(f"no image for {', '.join(absent)}: it can neither be pulled nor "
                           f"stood in for (tests/compose/standins.py)")
    for tag, context in sorted(ours.items()):
        started = time.monotonic()
        result = engine.docker("build", "--tag", tag, str(context), check=False,
                               capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building {tag} from {context} failed:\n{result.stderr[-4000:]}")
        print(f"image {tag}: built in {time.monotonic() - started:.0f}s", flush=True)
    return ours
