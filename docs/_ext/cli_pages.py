"""Writes one Markdown page per ``fieldfit`` command into ``docs/cli/`` before a build.

Each page is Typer's own generated help (:func:`typer.cli.get_docs_for_click`, what
``typer fieldfit.cli utils docs`` prints) for one command, so the reference is the command's
``--help`` and never a copy. sphinx-click cannot be used: Typer ships its own copy of Click,
whose command classes sphinx-click does not recognise.
"""

from __future__ import annotations

from pathlib import Path

import typer
import typer.main
from typer.cli import get_docs_for_click

from fieldfit.cli import app

INDEX_HEAD = """# Command-line reference

Every `fieldfit` command, generated from its `--help`. The narrative guide, with what each
option is for, is [the CLI guide](../cli-guide.md).

"""


def command_pages() -> dict[str, str]:
    """The Markdown text of each command's page, and of the index, by file stem."""
    group = typer.main.get_command(app)
    pages = {}
    with typer.Context(group, info_name="fieldfit") as ctx:
        names = group.list_commands(ctx)
        for name in names:
            text = get_docs_for_click(obj=group.get_command(ctx, name), ctx=ctx,
                                      call_prefix="fieldfit")
            pages[name] = text.strip() + "\n"
        toctree = "```{toctree}\n:maxdepth: 1\n\n" + "".join(f"{n}\n" for n in names) + "```\n"
        summary = "".join(f"- [`fieldfit {n}`]({n}.md): "
                          f"{group.get_command(ctx, n).get_short_help_str(limit=100)}\n"
                          for n in names)
    pages["index"] = INDEX_HEAD + summary + "\n" + toctree
    return pages


def write_pages(app_) -> None:
    """Write the pages that changed (Sphinx then rebuilds only those)."""
    out = Path(app_.srcdir) / "cli"
    out.mkdir(exist_ok=True)
    for stem, text in command_pages().items():
        path = out / f"{stem}.md"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def setup(app_):
    app_.connect("builder-inited", write_pages)
    return {"parallel_read_safe": True}
