"""Command line of the mock: `serve --role edge|cloud` and `offer --file PATH --title TITLE`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import httpx

from ids_mock.offer import default_api_url, offer_file
from ids_mock.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ids_mock", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve one side of the connector (two ports)")
    serve.add_argument("--role", choices=("edge", "cloud"), required=True)
    offer = commands.add_parser("offer", help="offer a file as a resource on the edge")
    offer.add_argument("--file", type=Path, required=True)
    offer.add_argument("--title", required=True)
    offer.add_argument("--description", default="")
    offer.add_argument("--api-url", default=None,
                       help="edge self-description API (default https://$IDS_EDGE_HOST:"
                            "$IDS_EDGE_API_PORT, i.e. https://127.0.0.1:8090)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        try:
            settings = Settings.from_env(args.role)
        except ValueError as exc:  # a malformed IDS_* setting: say which, without a traceback
            print(f"ids-mock serve: {exc}", file=sys.stderr)
            return 2
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s ids-mock-" + args.role + " %(name)s: %(message)s",
        )
        from ids_mock.server import serve  # imported late: `offer` needs no server code

        serve(settings)
        return 0
    credentials = Settings.from_env("edge")
    try:
        resource = offer_file(
            args.file, args.title, args.api_url or default_api_url(),
            credentials.api_user, credentials.api_password, args.description,
        )
    except (OSError, httpx.HTTPError) as exc:
        print(f"ids-mock offer: {exc}", file=sys.stderr)
        return 1
    artifact = resource["ids:representation"][0]["ids:instance"][0]
    print(json.dumps({"resource": resource["@id"], "artifact": artifact["@id"],
                      "title": args.title, "bytes": artifact.get("ids:byteSize")}))
    return 0
