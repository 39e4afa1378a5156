"""The checks in front of every operator action, without a server: who sent it, from where, and what is masked."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
import tornado.web
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from conveyor.jobs.logs import one_line
from conveyor.settings import masked_url
from conveyor.web.flower import host_allowed
from conveyor.web.views import authenticated_user, same_origin

LOGINS = SimpleNamespace(basic_auth=["admin:pw", "ops:other"], auth=None, address="127.0.0.1")
OPEN = SimpleNamespace(basic_auth=[], auth=None, address="127.0.0.1")


def header(text: str) -> dict[str, str]:
    return {"Authorization": text}


@pytest.mark.parametrize("spacing", [" ", "  ", "\t", " \t "])
def test_the_audit_reads_the_login_as_flower_splits_the_header(spacing: str) -> None:
    credentials = base64.b64encode(b"ops:other").decode()
    assert authenticated_user(LOGINS, header(f"Basic{spacing}{credentials}"), True) == "ops"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Basic",
        "Bearer " + base64.b64encode(b"admin:pw").decode(),
        "Basic " + base64.b64encode(b"x:y").decode(),
        "Basic a b",
    ],
)
def test_an_action_nobody_can_be_named_for_is_refused(value: str) -> None:
    assert authenticated_user(LOGINS, header(value), True) is None


def test_oauth_names_the_cookie_user_and_an_open_flower_says_so() -> None:
    oauth = SimpleNamespace(basic_auth=[], auth=".*@example.com")
    assert authenticated_user(oauth, {}, "alice@example.com") == "alice@example.com"
    assert authenticated_user(oauth, {}, None) is None
    assert authenticated_user(OPEN, {}, True) == "anonymous (Flower runs without login)"


def request(**headers: str) -> HTTPServerRequest:
    start = RequestStartLine("POST", "/queues/default/pause", "HTTP/1.1")
    return HTTPServerRequest(start_line=start, headers=HTTPHeaders({"Host": "127.0.0.1:5555", **headers}))


@pytest.mark.parametrize(
    ("headers", "required", "allowed"),
    [
        ({"Origin": "http://127.0.0.1:5555"}, True, True),
        ({"Referer": "http://127.0.0.1:5555/queues"}, True, True),
        ({"Sec-Fetch-Site": "same-origin"}, True, True),
        ({}, False, True),  # with a login: Flower's checks and the token decide
        ({}, True, False),  # without one, an action must say where it comes from
        ({"Origin": "http://127.0.0.1:8000"}, True, False),  # another local port: same-site, not same-origin
        ({"Origin": "http://127.0.0.1:8000"}, False, False),
        ({"Sec-Fetch-Site": "same-site"}, True, False),
        ({"Referer": "http://rebind.attacker.example:5555/"}, True, False),
    ],
)
def test_an_action_comes_from_this_flowers_own_pages(headers: dict[str, str], required: bool, allowed: bool) -> None:
    if allowed:
        same_origin(request(**headers), required=required)
    else:
        with pytest.raises(tornado.web.HTTPError) as refused:
            same_origin(request(**headers), required=required)
        assert refused.value.status_code == 403


def test_without_login_only_loopback_and_the_bind_address_are_answered() -> None:
    assert host_allowed("127.0.0.1", OPEN)
    assert host_allowed("localhost", OPEN)
    assert host_allowed("[::1]", OPEN)
    assert not host_allowed("rebind.attacker.example", OPEN)
    assert host_allowed("flower.internal", OPEN, allowed_hosts=["Flower.Internal"])
    bound = SimpleNamespace(basic_auth=[], auth=None, address="10.1.2.3")
    assert host_allowed("10.1.2.3", bound)
    assert host_allowed("rebind.attacker.example", LOGINS)  # the browser sends no login to another name


def test_passwords_are_masked_in_the_netloc_and_the_query() -> None:
    assert masked_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert masked_url("redis://127.0.0.1:6379/0?password=s3cret&db=2") == "redis://127.0.0.1:6379/0?password=***&db=2"
    assert "s3cret" not in masked_url("rediss://u:s3cret@h:6380/0?ssl_password=s3cret")
    assert masked_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert masked_url("redis://[broken") == "<an unreadable URL>"


def test_a_forged_id_stays_on_its_log_line() -> None:
    assert one_line("4f0c\nINFO conveyor: admin deleted everything") == "4f0c\\nINFO conveyor: admin deleted everything"
    assert one_line("a\rb\x1b[2J") == "a\\rb\\x1b[2J"
