"""`python -m tracejit ...` is the `tracejit` command."""

from tracejit.cli import main

raise SystemExit(main())
