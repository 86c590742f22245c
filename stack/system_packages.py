"""Install the Debian packages the platform needs when they are missing (root and apt-get only).

`python -m stack.system_packages COMMAND=PACKAGE ...` installs PACKAGE unless COMMAND is on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def apt_install(packages: list[str]) -> bool:
    """apt-get install `packages`; False when not root, no apt-get, or the install failed."""
    if not packages:
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print(f"installing {' '.join(packages)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        if subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            return False
    return True


def main(argv: list[str]) -> int:
    optional = "--optional" in argv  # the packages serve some tests only: never stop `make test`
    wanted = dict(arg.split("=", 1) for arg in argv if arg != "--optional")
    missing = [package for command, package in wanted.items() if not shutil.which(command)]
    if apt_install(missing):
        return 0
    how = f"as root: apt-get install {' '.join(missing)}"
    if optional:
        print(f"note: could not install {', '.join(missing)} ({how}); the tests that need them "
              f"will be reported as skipped.", file=sys.stderr)
        return 0
    print(f"missing: {', '.join(missing)}. Install them ({how}) and run again.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
