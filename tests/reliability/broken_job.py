"""A job module that fails to import (the fault suite's worker never imports it itself)."""

import a_dependency_not_installed  # type: ignore[import-not-found]  # noqa: F401
