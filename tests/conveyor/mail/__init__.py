"""conveyor.mail on mailers of the pack's tests (``mailers.py``), never the reference service's."""
