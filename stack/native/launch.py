"""Entry point of each supervised program: read `.env`, drop privileges, exec the service.

supervisord runs `python -m stack.native.launch --env-file .env SERVICE`; the service then
replaces this process, so supervisord supervises (and stops) the service itself.
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys
from pathlib import Path

from stack.native.backends import load
from stack.native.layout import Layout
from stack.native.programs import base_environment, program
from stack.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env-file", type=Path, required=True)
    parser.add_argument("service")
    args = parser.parse_args(argv)

    settings = load_settings(args.env_file)
    layout = Layout(settings.state_dir)
    backends = load(layout)
    if backends is None:
        sys.exit(f"{layout.backends_file} is missing: start the stack with `make up`.")
    prog = program(args.service, settings, backends, layout)
    env = {**base_environment(), **prog.env}
    if prog.user and os.geteuid() == 0:
        user = pwd.getpwnam(prog.user)
        os.setgid(user.pw_gid)
        os.initgroups(prog.user, user.pw_gid)
        os.setuid(user.pw_uid)
        env.update(HOME=user.pw_dir, USER=prog.user, LOGNAME=prog.user)
    os.execvpe(prog.argv[0], prog.argv, env)


if __name__ == "__main__":
    main()
