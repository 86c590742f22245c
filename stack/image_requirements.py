"""Each image's requirements.txt, exported from uv.lock with hashes: containers run the lock.

`python -m stack.image_requirements` (`make requirements`) writes them; `--check` exits 1 and
names the files that differ from a fresh export, which is what the drift test runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from stack.settings import REPO_ROOT

# Image folder -> the part of uv.lock it installs (`uv export` selection).
IMAGES: dict[str, tuple[str, ...]] = {
    # Airflow and the template's runtime: the project's own dependencies, without the groups.
    "airflow": ("--no-default-groups",),
    "mlflow": ("--only-group", "image-mlflow"),
    "model-server": ("--only-group", "image-model-server"),
    "ids-mock": ("--only-group", "image-ids-mock"),
}

HEADER = """\
# Exported from uv.lock with hashes by `make requirements` (stack/image_requirements.py); do not edit.
# The image installs exactly these, with `pip install --require-hashes --no-deps`, so it runs the
# versions the native runner runs. tests/stack/test_image_requirements.py fails when this drifts.
"""


def _uv() -> list[str]:
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


def export(image: str) -> str:
    """The requirements of `image`, as uv.lock resolves them today."""
    result = subprocess.run(
        [*_uv(), "export", "--frozen", "--no-emit-project", "--no-header", "--format",
         "requirements-txt", *IMAGES[image]],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return HEADER + result.stdout


def path(image: str) -> Path:
    return REPO_ROOT / image / "requirements.txt"


def stale() -> list[str]:
    """The images whose requirements.txt differs from a fresh export of uv.lock."""
    return [image for image in IMAGES
            if not path(image).exists() or path(image).read_text() != export(image)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.image_requirements", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report drift, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        drifted = stale()
        for image in drifted:
            print(f"{image}/requirements.txt differs from uv.lock: run `make requirements`")
        return 1 if drifted else 0
    for image in IMAGES:
        path(image).write_text(export(image))
        print(f"wrote {image}/requirements.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
