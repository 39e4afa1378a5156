"""Redis behind Sentinel: one URL, and what each component needs to follow the current master.

``REDIS_URL=redis+sentinel://[[user]:password@]host:port[,host:port…]/service_name[/db]`` names the
sentinels, the service (Sentinel's master name) and the database; the password in it is the data
nodes'. The sentinels' own password is a separate setting (``conveyor_redis_sentinel_password``,
the service reads it from ``REDIS_SENTINEL_PASSWORD``): a deployment usually protects both, with
different secrets.

Four components read Redis settings, each its own way, and ``conveyor.configure`` derives all of
them from this one URL so none of them can keep talking to a demoted master:

- kombu's broker: ``sentinel://h1:p1;sentinel://h2:p2`` with ``master_name`` and ``sentinel_kwargs``
  in ``broker_transport_options`` (kombu's ``SentinelChannel``; conveyor's transport subclasses it);
- Celery's result backend: the same form, its own ``result_backend_transport_options``;
- redbeat: ``redis-sentinel://`` with ``redbeat_redis_options`` (``sentinels``, ``service_name``);
- conveyor's own clients (scheduled-set poller, heartbeats, CLI, Flower pages, devserver checks):
  ``redis_client`` in ``conveyor.settings``, a ``Sentinel.master_for`` client.

Example::

    target = parse_sentinel_url("redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379/mymaster/0")
    target.sentinels       # (('10.0.0.1', 26379), ('10.0.0.2', 26379))
    target.kombu_url()     # 'sentinel://:s3cret@10.0.0.1:26379/0;sentinel://:s3cret@10.0.0.2:26379/0'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from conveyor.errors import ConfigurationError
from conveyor.master_switches import follow

__all__ = ["SCHEME", "SentinelTarget", "is_sentinel_url", "parse_sentinel_url"]

SCHEME = "redis+sentinel://"
#: The port a sentinel listens on when the URL names none (Redis' default for sentinels).
DEFAULT_SENTINEL_PORT = 26379
_FORM = "redis+sentinel://[:password@]host:port[,host:port…]/service_name[/db]"


def is_sentinel_url(url: object) -> bool:
    """The URL names Redis through its sentinels (conveyor's form, or kombu's ``sentinel://`` one)."""
    return str(url or "").startswith((SCHEME, "sentinel://"))


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """The sentinels of one Redis service, and how to reach its current master."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    #: The data nodes' password (in the URL).
    password: str | None = None
    #: The sentinels' own password (``conveyor_redis_sentinel_password``).
    sentinel_password: str | None = None

    def sentinel_kwargs(self, connect_timeout: float, socket_timeout: float) -> dict[str, Any]:
        """What a client of the sentinels themselves needs: their password and bounded timeouts."""
        options: dict[str, Any] = {"socket_connect_timeout": connect_timeout, "socket_timeout": socket_timeout}
        if self.sentinel_password is not None:
            options["password"] = self.sentinel_password
        return options

    def kombu_url(self) -> str:
        """kombu's and Celery's form: one ``sentinel://`` URL per sentinel, the data password in each."""
        auth = ""
        if self.password is not None:
            auth = f"{quote(self.username or '', safe='')}:{quote(self.password, safe='')}@"
        return ";".join(f"sentinel://{auth}{_host(host)}:{port}/{self.db}" for host, port in self.sentinels)

    def redbeat_url(self) -> str:
        """redbeat's form: ``redis-sentinel://`` naming the first sentinel (its options name them all).

        One host, as redbeat's docs show it: beat's banner parses the URL (kombu's ``sanitize_url``),
        which a comma-separated list of hosts made fail at start.
        """
        host, port = self.sentinels[0]
        return f"redis-sentinel://{_host(host)}:{port}/{self.db}"

    def kombu_options(self, connect_timeout: float, socket_timeout: float) -> dict[str, Any]:
        """The transport options kombu's broker and Celery's result backend read for Sentinel."""
        return {
            "master_name": self.service_name,
            "sentinel_kwargs": self.sentinel_kwargs(connect_timeout, socket_timeout),
        }

    def redbeat_options(self, connect_timeout: float, socket_timeout: float) -> dict[str, Any]:
        """``redbeat_redis_options`` for redbeat's Sentinel branch (its URL is ``redis-sentinel://``)."""
        options: dict[str, Any] = {
            "sentinels": [list(sentinel) for sentinel in self.sentinels],
            "service_name": self.service_name,
            "db": self.db,
            "socket_timeout": socket_timeout,
            "sentinel_kwargs": self.sentinel_kwargs(connect_timeout, socket_timeout),
        }
        if self.password is not None:
            options["password"] = self.password
        return options

    def client(self, connect_timeout: float, socket_timeout: float, **options: Any) -> Any:
        """A client of the current master: it asks the sentinels again after a connection error.

        redis-py's ``SentinelManagedConnection`` also turns a ``READONLY`` reply (a demoted master
        still answering) into a connection error, so the next command goes to the new master; and
        ``conveyor.master_switches`` moves it when the sentinels announce the promotion, before that.
        """
        from redis.sentinel import Sentinel

        options.setdefault("socket_connect_timeout", connect_timeout)
        options.setdefault("socket_timeout", socket_timeout)
        if self.password is not None:
            options.setdefault("password", self.password)
            if self.username is not None:
                options.setdefault("username", self.username)
        sentinel = Sentinel(list(self.sentinels), sentinel_kwargs=self.sentinel_kwargs(connect_timeout, socket_timeout))
        client = sentinel.master_for(self.service_name, db=self.db, **options)
        follow(client.connection_pool)  # to the new master as soon as the sentinels announce it
        return client

    def problem(self, connect_timeout: float, socket_timeout: float) -> str | None:
        """What stops a client from reaching the master, in one line naming the fix, or None.

        Asked at worker start (``conveyor.broker.eviction``) and by the CLI and the devserver, so a
        wrong URL or password is one clear line instead of kombu retrying forever. Each case is
        told apart: no sentinel answers (each named, with its error), a sentinel refuses the
        sentinel password, the sentinels monitor no such service, the master refuses the data password.
        """
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # A diagnosis asks once: redis-py's clients retry connection errors (a refused password among
        # them) with backoff by default, which made a wrong sentinel password take 13 s to say so.
        once = Retry(NoBackoff(), 0)

        errors: list[str] = []
        address: tuple[str, int] | None = None
        known: set[str] = set()
        for host, port in self.sentinels:
            client = redis.Redis(host, port, retry=once, **self.sentinel_kwargs(connect_timeout, socket_timeout))
            try:
                # SENTINEL MASTERS: redis-py 6.4's sentinel_get_master_addr_by_name and sentinel_master pass
                # options their reply parsers reject when called on a plain client (TypeError).
                masters: Any = client.sentinel_masters()  # {name: state} (RESP2, the default)
                names = {key.decode() if isinstance(key, bytes) else str(key): state for key, state in masters.items()}
                state = names.get(self.service_name)
                if state is not None:
                    address = (str(state["ip"]), int(state["port"]))
                    break
                known.update(names)
                errors.append(f"{_host(host)}:{port} knows no service {self.service_name!r}")
            except (redis.AuthenticationError, redis.AuthenticationWrongNumberOfArgsError) as exc:
                errors.append(f"{_host(host)}:{port} refused the sentinel password ({exc})")
            except redis.ResponseError as exc:  # NOAUTH: the sentinel wants a password none was given
                errors.append(f"{_host(host)}:{port} answered {exc}")
            except (redis.RedisError, OSError) as exc:
                errors.append(f"{_host(host)}:{port} does not answer ({type(exc).__name__}: {exc})")
            finally:
                client.close()
        if address is None:
            if known:
                return (
                    f"the sentinels monitor no service {self.service_name!r} (they know {', '.join(sorted(known))}): "
                    "fix the service name in REDIS_URL"
                )
            return f"cannot reach the master of {self.describe()}: " + "; ".join(errors)
        master = redis.Redis(
            address[0],
            address[1],
            db=self.db,
            username=self.username,
            password=self.password,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            retry=once,
        )
        try:
            master.ping()
        except (redis.AuthenticationError, redis.ResponseError) as exc:
            where = f"{_host(address[0])}:{address[1]}"
            return f"the master {where} of {self.describe()} refused the login in REDIS_URL ({exc})"
        except (redis.RedisError, OSError) as exc:
            return (
                f"the sentinels name {_host(address[0])}:{address[1]} as the master of {self.service_name!r}, "
                f"but it does not answer ({type(exc).__name__}: {exc})"
            )
        finally:
            master.close()
        return None

    def describe(self) -> str:
        """``service 'mymaster' via sentinels 10.0.0.1:26379, 10.0.0.2:26379`` (no password), for errors."""
        where = ", ".join(f"{_host(host)}:{port}" for host, port in self.sentinels)
        return f"service {self.service_name!r} via sentinels {where}"


def parse_sentinel_url(url: str, sentinel_password: str | None = None) -> SentinelTarget:
    """Read conveyor's Sentinel URL; a URL that is not of that form raises ``ConfigurationError`` naming it.

    Example::

        parse_sentinel_url("redis+sentinel://127.0.0.1:26379/mymaster").service_name   # 'mymaster'
    """
    if not url.startswith(SCHEME):
        raise ConfigurationError(f"a Sentinel URL starts with {SCHEME!r}: write it as {_FORM}")
    rest = url[len(SCHEME) :]
    if "://" in rest or ";" in rest:
        raise ConfigurationError(
            "the Sentinel URL mixes forms: list the sentinels as host:port,host:port after one redis+sentinel:// "
            f"(one URL per sentinel is kombu's form, which conveyor derives): {_FORM}"
        )
    if "?" in rest or "#" in rest:
        raise ConfigurationError(f"a Sentinel URL takes no query or fragment: write it as {_FORM}")
    netloc, _, path = rest.partition("/")
    username = password = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        name, has_password, secret = userinfo.partition(":")
        if not has_password:
            raise ConfigurationError(
                f"the Sentinel URL's credentials must be ':password@' or 'user:password@': {_FORM}"
            )
        username, password = unquote(name) or None, unquote(secret)
    sentinels = tuple(_sentinel(part) for part in netloc.split(","))
    parts = path.split("/") if path else []
    if not parts or not parts[0]:
        raise ConfigurationError(f"the Sentinel URL names no service (Sentinel's master name): {_FORM}")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ConfigurationError(f"the Sentinel URL's path is /service_name[/db], got /{path}: {_FORM}")
    db = int(parts[1]) if len(parts) == 2 else 0
    return SentinelTarget(sentinels, unquote(parts[0]), db, username, password, sentinel_password)


def _sentinel(part: str) -> tuple[str, int]:
    if not part:
        raise ConfigurationError(f"the Sentinel URL has an empty host in its list: {_FORM}")
    if part.startswith("["):  # an IPv6 address: [::1]:26379
        host, _, port_text = part[1:].partition("]")
        port_text = port_text.removeprefix(":")
    else:
        host, _, port_text = part.partition(":")
    if port_text and not port_text.isdigit():
        raise ConfigurationError(f"the Sentinel URL's port must be a number, got {part!r}: {_FORM}")
    port = int(port_text) if port_text else DEFAULT_SENTINEL_PORT
    if not host or not 0 < port < 65536:
        raise ConfigurationError(f"the Sentinel URL names a bad sentinel {part!r}: {_FORM}")
    return host, port


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
