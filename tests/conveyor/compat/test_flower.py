"""``conveyor.compat.flower``: the navbar splice point and the XSRF setting conveyor's pages rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.compat import flower as flower_compat
from conveyor.errors import CompatibilityError


def test_flowers_navbar_must_keep_the_line_conveyors_links_go_before(tmp_path: Path) -> None:
    import flower

    flower_compat.check_navbar(Path(flower.__file__).parent / "templates")  # Flower as installed: fine
    (tmp_path / "navbar.html").write_text("<ul class='navbar-nav'><li>Workers</li></ul>\n")  # no line closing it
    with pytest.raises(CompatibilityError, match="cannot add its Schedule and Dead links"):
        flower_compat.check_navbar(tmp_path)


def test_a_flower_that_does_not_check_xsrf_tokens_is_refused() -> None:
    flower_compat.check_xsrf({"xsrf_cookies": True})
    with pytest.raises(CompatibilityError, match="would accept cross-site form posts"):
        flower_compat.check_xsrf({})  # Flower 2.0 and 2.1: tornado never calls the views' token check


@pytest.mark.parametrize("indent", ["    ", "      "], ids=["flower-2.0", "flower-2.2"])
def test_the_links_go_into_the_primary_list_of_either_navbar_layout(indent: str) -> None:
    navbar = f"<ul class='primary'>\n{indent}<li>Workers</li>\n{indent}</ul>\n<ul class='secondary'>\n{indent}</ul>\n"
    spliced = flower_compat.splice_navbar(navbar, "<li>Dead</li>\n")
    assert spliced == f"<ul class='primary'>\n{indent}<li>Workers</li>\n<li>Dead</li>\n{indent}</ul>\n" + (
        f"<ul class='secondary'>\n{indent}</ul>\n"
    )
