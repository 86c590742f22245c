"""Static checks of the stand-ins: one for every external image, each saying what it stands in for."""

from __future__ import annotations

from pathlib import Path

import yaml

from stack.compose import COMPOSE_FILES
from stack.settings import REPO_ROOT
from tests.compose.standins import HERE, STANDINS
from tests.stack.test_compose_file import build_contexts, from_images


def external_images() -> set[str]:
    """Every image the Compose files pull, and every base our Dockerfiles start from."""
    images: set[str] = set()
    for path in COMPOSE_FILES:
        for service in yaml.safe_load(path.read_text()).get("services", {}).values():
            if "build" not in service and "image" in service:
                images.add(service["image"])
    for context in build_contexts():
        images |= set(from_images(REPO_ROOT / context / "Dockerfile"))
    return images


def test_every_external_image_has_a_stand_in_of_the_same_name() -> None:
    names = {standin.image for standin in STANDINS}
    assert external_images() == names


def test_each_stand_in_says_what_it_stands_in_for() -> None:
    for standin in STANDINS:
        dockerfile = (HERE / standin.folder / "Dockerfile").read_text()
        assert dockerfile.startswith(f"# Stand-in for {standin.image.split(':')[0]}"), standin.folder
        assert "differ" in dockerfile or "Not emulated" in dockerfile, standin.folder


def test_stand_ins_start_only_from_debian_roots_or_other_stand_ins() -> None:
    names = {standin.image for standin in STANDINS}
    for standin in STANDINS:
        (base,) = [line.split()[1] for line in (HERE / standin.folder / "Dockerfile").read_text()
                   .splitlines() if line.startswith("FROM ")]
        assert base == standin.rootfs if standin.debian_packages else base in names, standin.folder
        assert Path(HERE / standin.folder).is_dir()
