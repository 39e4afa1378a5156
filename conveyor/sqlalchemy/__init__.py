"""SQLAlchemy integration: model instances as job arguments, enqueue after commit (``conveyor[sqlalchemy]``)."""

from conveyor.extras import require_extra

require_extra("sqlalchemy", "sqlalchemy")

__all__: list[str] = []  # the modules are the API: import from them
