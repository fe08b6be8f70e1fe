"""Health checks that prove a service works from the outside, on any backend.

Each probe runs once against a host address (the published port on the host)
and returns a Verdict; waiting and retrying belong to ``readiness``.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from playground.stack import HealthCheck

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0
# A mirror may fetch the probe image from a remote upstream while the check
# waits. It may also wait for an unreachable upstream before it serves its
# own copy, about 30 s for a vanished upstream address (measured with
# Distribution 2.8.2). So its reads get longer than the other probes'.
REGISTRY_TIMEOUT = 45.0
LOG_POLL_INTERVAL = 0.25
# MySQL server error codes (include/mysqld_error.h): no retry fixes these.
_ER_ACCESS_DENIED = 1045
_ER_DBACCESS_DENIED = 1044
# Client error codes (include/errmsg.h): the server is not reachable yet.
_CR_CONNECTION_ERROR = 2002
_CR_CONN_HOST_ERROR = 2003
_CR_SERVER_LOST = 2013


@dataclass(frozen=True)
class Verdict:
    """The outcome of one probe. ``fatal`` marks a failure that waiting cannot
    cure, such as a rejected password."""

    service: str
    check: str
    ok: bool
    detail: str
    fatal: bool = False
    evidence: str = ""


def describe(check: HealthCheck) -> str:
    """Return a short name for a check, as shown in tables."""
    if check.kind == "http":
        return f"http GET {check.path}"
    if check.kind == "tcp":
        return f"tcp connect to {check.port}"
    if check.kind == "log_pipeline":
        return f"access log reaches {check.sink}"
    if check.kind == "registry":
        return f"pull {check.probe} through the registry"
    if check.kind == "harbor":
        return f"Harbor API, pull {check.probe} through project {check.project}"
    return f"mysql login as {check.user}"


LogReader = Callable[[str], str]


def probe(
    check: HealthCheck,
    host: str,
    port: int,
    password: str | None = None,
    timeout: float = PROBE_TIMEOUT,
    read_logs: LogReader | None = None,
) -> Verdict:
    """Run one check against ``host:port`` and return its verdict.

    ``read_logs(service)`` returns a service's recent output; the
    log_pipeline check needs it.
    """
    if check.kind == "http":
        return probe_http(check, host, port, timeout)
    if check.kind == "mysql":
        return probe_mysql(check, host, port, password, timeout)
    if check.kind == "tcp":
        return probe_tcp(check, host, port, timeout)
    if check.kind == "log_pipeline":
        if read_logs is None:
            raise ValueError("the log_pipeline check needs a log reader")
        return probe_log_pipeline(check, host, port, read_logs, timeout)
    if check.kind == "registry":
        return probe_registry(check, host, port, max(timeout, REGISTRY_TIMEOUT))
    if check.kind == "harbor":
        return probe_harbor(check, host, port, max(timeout, REGISTRY_TIMEOUT))
    raise ValueError(f"unknown check kind {check.kind!r}")


def probe_tcp(check: HealthCheck, host: str, port: int, timeout: float) -> Verdict:
    name = describe(check)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        return Verdict(check.service, name, False, f"no TCP connection to {host}:{port}: {error}")
    return Verdict(check.service, name, True, f"accepts TCP on {host}:{port}")


def probe_log_pipeline(
    check: HealthCheck, host: str, port: int, read_logs: LogReader, timeout: float
) -> Verdict:
    """Send one request carrying a unique marker to the service and require a
    record with that marker in the sink's output within ``check.within`` s.

    A failed verdict names the stage that failed: the request, or the delivery.
    """
    name = describe(check)
    marker = f"playground-marker-{uuid.uuid4().hex}"
    target = f"{check.path}{'&' if '?' in check.path else '?'}{marker}"
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", target, headers={"User-Agent": "playground-check"})
        connection.getresponse().read()
    except (OSError, http.client.HTTPException) as error:
        return Verdict(
            check.service, name, False, f"{check.service} did not answer on {host}:{port}: {error}"
        )
    finally:
        connection.close()

    sent = time.monotonic()
    output = ""
    while time.monotonic() - sent < check.within:
        output = read_logs(check.sink)
        if marker in output:
            seconds = time.monotonic() - sent
            return Verdict(
                check.service, name, True, f"record reached {check.sink} in {seconds:.1f} s"
            )
        time.sleep(LOG_POLL_INTERVAL)
    return Verdict(
        check.service,
        name,
        False,
        f"{check.service} answered, but no record with marker {marker} reached "
        f"{check.sink} within {check.within:g} s",
        evidence=f"last lines of {check.sink}:\n"
        + ("\n".join(output.splitlines()[-10:]) or "(none)"),
    )


def probe_registry(check: HealthCheck, host: str, port: int, timeout: float) -> Verdict:
    """Require the registry API to respond, pull the probe image through it
    with every blob's digest verified, and find its repository in the catalog.

    A registry that returns "unknown" for the probe has neither a copy nor
    an upstream that serves it, which waiting does not change: the verdict
    is fatal.
    """
    from playground.registry import RegistryClient, RegistryError, format_size

    name = describe(check)
    client = RegistryClient(host, port, timeout)
    repository, _, tag = check.probe.rpartition(":")
    try:
        client.ping()
    except (OSError, http.client.HTTPException, RegistryError) as error:
        return Verdict(check.service, name, False, f"no registry API on {host}:{port}: {error}")

    try:
        pulled = client.pull(repository, tag)
        catalog = client.catalog()
    except RegistryError as error:
        unknown = error.status == 404
        detail = f"pulling {check.probe} failed: {error}"
        if unknown:
            detail += "; the registry has no copy and its upstream did not serve one"
        return Verdict(check.service, name, False, detail, fatal=unknown)
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Verdict(check.service, name, False, f"pulling {check.probe} failed: {error}")

    if repository not in catalog:
        return Verdict(
            check.service,
            name,
            False,
            f"pulled {check.probe}, but {repository} is not in the catalog",
        )
    return Verdict(
        check.service,
        name,
        True,
        f"pulled {check.probe} ({pulled.blobs} blobs, {format_size(pulled.size)}, "
        f"{pulled.seconds:.1f} s); {repository} is in the catalog",
    )


def probe_harbor(check: HealthCheck, host: str, port: int, timeout: float) -> Verdict:
    """Require Harbor's API to report every component healthy. Once the
    proxy-cache project exists, also pull the probe image through it
    anonymously and find its repository in the project.

    ``up`` creates the project after Harbor is ready, so before that a
    healthy API passes on its own, and the detail states that.
    """
    from playground.errors import PlaygroundError
    from playground.harbor import HarborClient

    name = describe(check)
    client = HarborClient(host, port, timeout=timeout)
    try:
        health = client.health()
        project = client.find_project(check.project)
    except PlaygroundError as error:
        return Verdict(check.service, name, False, f"Harbor API on {host}:{port}: {error}")
    if health.get("status") != "healthy":
        sick = [c.get("name") for c in health.get("components") or [] if c.get("status") != "healthy"]
        detail = f"Harbor reports {health.get('status')}; components not healthy: "
        return Verdict(check.service, name, False, detail + (", ".join(map(str, sick)) or "none listed"))
    if project is None:
        return Verdict(
            check.service,
            name,
            True,
            f"Harbor API healthy; project {check.project} not created yet, so nothing was pulled",
        )
    return _pull_through_project(check, client, host, port, timeout)


def _pull_through_project(
    check: HealthCheck, client, host: str, port: int, timeout: float
) -> Verdict:
    from playground.errors import PlaygroundError
    from playground.registry import RegistryClient, RegistryError, format_size

    name = describe(check)
    repository, _, tag = check.probe.rpartition(":")
    relocated = f"{check.project}/{repository}"
    try:
        pulled = RegistryClient(host, port, timeout).pull(relocated, tag)
        stored = client.repository_names(check.project)
    except RegistryError as error:
        detail = f"pulling {relocated}:{tag} failed: {error}"
        return Verdict(check.service, name, False, detail, fatal=error.status == 404)
    except (OSError, http.client.HTTPException, ValueError, PlaygroundError) as error:
        return Verdict(check.service, name, False, f"pulling {relocated}:{tag} failed: {error}")
    if relocated not in stored:
        return Verdict(
            check.service, name, False, f"pulled {relocated}:{tag}, but project "
            f"{check.project} does not list {relocated}"
        )
    return Verdict(
        check.service,
        name,
        True,
        f"Harbor API healthy; pulled {relocated}:{tag} ({pulled.blobs} blobs, "
        f"{format_size(pulled.size)}, {pulled.seconds:.1f} s), listed in project {check.project}",
    )


def probe_http(check: HealthCheck, host: str, port: int, timeout: float) -> Verdict:
    name = describe(check)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    started = time.monotonic()
    try:
        connection.request("GET", check.path, headers={"User-Agent": "playground-check"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return Verdict(check.service, name, False, f"no HTTP answer on {host}:{port}: {error}")
    finally:
        connection.close()

    milliseconds = (time.monotonic() - started) * 1000
    detail = f"HTTP {status} in {milliseconds:.0f} ms"
    if status != check.expect_status:
        detail = f"HTTP {status} from http://{host}:{port}{check.path}, expected {check.expect_status}"
    return Verdict(check.service, name, status == check.expect_status, detail)


def probe_mysql(
    check: HealthCheck, host: str, port: int, password: str | None, timeout: float
) -> Verdict:
    """Log in over TCP with the stack's credentials and require ``SELECT 1``
    to return 1. A server still initialising has networking off, so it fails
    here; so does a wrong password, which a ping-style probe would accept."""
    import pymysql

    name = describe(check)
    if password is None:
        return Verdict(
            check.service,
            name,
            False,
            f"no stored password {check.password_secret!r}: run 'playground up' first",
            fatal=True,
        )
    try:
        connection = pymysql.connect(
            host=host,
            port=port,
            user=check.user,
            password=password,
            database=check.database,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
        )
    except pymysql.err.MySQLError as error:
        return _mysql_failure(check, name, host, port, error)

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            row = cursor.fetchone()
    except pymysql.err.MySQLError as error:
        return _mysql_failure(check, name, host, port, error)
    finally:
        connection.close()

    if row != (1,):
        return Verdict(check.service, name, False, f"SELECT 1 returned {row!r}")
    return Verdict(check.service, name, True, f"login as {check.user}, SELECT 1 returned 1")


def _mysql_failure(
    check: HealthCheck, name: str, host: str, port: int, error: Exception
) -> Verdict:
    code = error.args[0] if error.args and isinstance(error.args[0], int) else None
    message = error.args[1] if len(error.args) > 1 else str(error)
    if code in (_ER_ACCESS_DENIED, _ER_DBACCESS_DENIED):
        return Verdict(
            check.service,
            name,
            False,
            f"access denied for {check.user} on {host}:{port}: the data volume was "
            "probably initialised with other credentials; taking the stack down "
            "with --volumes starts it afresh and deletes its data",
            fatal=True,
        )
    if code in (_CR_CONNECTION_ERROR, _CR_CONN_HOST_ERROR, _CR_SERVER_LOST):
        # Docker's port proxy accepts the TCP connection and then drops it
        # while nothing listens in the container yet.
        return Verdict(
            check.service, name, False, f"not accepting MySQL logins on {host}:{port} yet"
        )
    return Verdict(check.service, name, False, f"no MySQL login on {host}:{port}: {message}")

