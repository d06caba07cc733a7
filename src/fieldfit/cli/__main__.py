"""``python -m fieldfit.cli``: the ``fieldfit`` command."""

from . import main

main()
