"""conveyor.sqlalchemy on models of the pack's tests (``models.py``), never the reference service's."""
