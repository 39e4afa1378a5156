"""``conveyor.sqlalchemy.model_references``: model instances travel as a reference and are loaded again.

On the pack's models (``models.py``, registered with ``register_models(Base, Session)``).
"""

from __future__ import annotations

import uuid

import pytest

from conveyor.errors import DeserializationError, RecordNotFound, SerializationError
from conveyor.serialization import deserialize, serialize
from tests.conveyor.sqlalchemy.models import Base, Session, User


@pytest.fixture
def user() -> User:
    with Session.begin() as session:
        ada = User(email=f"ada-{uuid.uuid4().hex}@example.com", name="Ada")  # id() of a session can repeat
        session.add(ada)
    return ada


def test_a_saved_instance_travels_as_its_class_and_key_and_is_loaded_again(user: User) -> None:
    # When a user is serialized
    sent = serialize(user)
    # Then the message holds the class and primary key, not the columns
    assert sent["v"] == ["tests.conveyor.sqlalchemy.models:User", [user.id]]
    assert "Ada" not in str(sent)
    # And the worker loads a fresh, detached copy of the row
    with Session.begin() as session:
        session.get(User, user.id).name = "Ada Lovelace"
    loaded = deserialize(sent)
    assert isinstance(loaded, User)
    assert (loaded.id, loaded.name) == (user.id, "Ada Lovelace")


def test_a_row_deleted_before_the_job_runs_is_a_record_not_found(user: User) -> None:
    sent = serialize(user)
    with Session.begin() as session:
        session.delete(session.get(User, user.id))
    with pytest.raises(RecordNotFound, match=rf"^User with primary key \[{user.id}\] no longer exists$"):
        deserialize(sent)


def test_an_instance_without_a_primary_key_cannot_be_sent() -> None:
    with pytest.raises(SerializationError, match="User has no primary key yet: add it to a session and flush"):
        serialize(User(email="new@example.com", name="New"))


def test_a_reference_to_a_class_that_is_no_model_of_the_base_is_refused_without_importing_it(user: User) -> None:
    # Given a message naming a class by a path no mapped model has
    sent = serialize(user)
    forged = {**sent, "v": ["os:system", sent["v"][1]]}
    # When the worker reads it
    with pytest.raises(DeserializationError) as raised:
        deserialize(forged)
    # Then it is refused, naming the base whose registry was searched
    assert str(raised.value).startswith(f"'os:system' is not a model of {Base.__qualname__} defined in this worker")
