"""The `lstmbt` command line (entry point `lstmbt.cli:main`)."""

from lstmbt.cli.main import app, main

__all__ = ["app", "main"]
