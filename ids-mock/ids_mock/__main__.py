"""Entry point of `python -m ids_mock`."""

from ids_mock.cli import main

raise SystemExit(main())
