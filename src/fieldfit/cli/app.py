"""The Typer application the command modules register on."""

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Fit, predict and simulate spatial random fields.")
