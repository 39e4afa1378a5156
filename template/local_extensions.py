"""cookiecutter extension: ``conveyor_checkout`` is the folder this template lives in.

The rendered service installs conveyor from there by default (``make install``),
so ``cookiecutter <conveyor checkout> --directory template`` needs no package index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2.ext import Extension


class ConveyorCheckout(Extension):
    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        # template/ sits at the root of the conveyor checkout (or of cookiecutter's clone of it).
        environment.globals["conveyor_checkout"] = str(Path(__file__).resolve().parents[1])
