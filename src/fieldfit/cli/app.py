"""The Typer application the command modules register on: :data:`app`, with plain help
(:data:`HELP_SETTINGS`)."""

import typer

#: plain (click) help: rich's boxed tables truncate option names and help text on an
#: 80-column terminal; click wraps them instead
HELP_SETTINGS = {"max_content_width": 100}

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  context_settings=HELP_SETTINGS,
                  help="Fit, predict and simulate spatial random fields.")
