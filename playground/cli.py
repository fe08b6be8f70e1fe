"""The ``playground`` command line.

Exit codes: 0 success, 1 unhealthy or failed, 2 usage or configuration error
(including a missing prerequisite such as the Docker engine or a free port),
130 interrupted. Heavy modules are imported inside the commands, so
``playground --help`` stays fast.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from playground.errors import EXIT_FAILED, EXIT_INTERRUPTED, PlaygroundError

app = typer.Typer(
    name="playground",
    help="Bring predefined multi-container stacks up on Docker Compose, Swarm or "
    "Kubernetes (kind) and prove they work with health checks.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)



def _complete_backend(incomplete: str) -> list[str]:
    from playground.backends import KNOWN_BACKENDS

    return [name for name in KNOWN_BACKENDS if name.startswith(incomplete)]


def _complete_stack(incomplete: str) -> list[str]:
    """Complete shipped stack names; a word with a slash completes to a path."""
    if "/" in incomplete or incomplete.startswith("."):
        return []
    from playground.settings import Settings
    from playground.stack import list_stacks

    try:
        names = list_stacks(Settings.resolve().stacks_dir)
    except PlaygroundError:
        return []
    return [name for name in names if name.startswith(incomplete)]


OnOption = Annotated[
    str,
    typer.Option(
        "--on",
        help="Backend to run on: compose, swarm, kind or kubernetes.",
        metavar="BACKEND",
        autocompletion=_complete_backend,
    ),
]
FoundOnOption = Annotated[
    str | None,
    typer.Option(
        "--on",
        help="Backend the stack runs on: compose, swarm, kind or kubernetes "
        "[default: where it is up on the Docker engine].",
        metavar="BACKEND",
        autocompletion=_complete_backend,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print data as JSON on stdout.")]
ImageMapOption = Annotated[
    Path | None,
    typer.Option(
        "--image-map",
        help="Image map file relocating the stacks' images [env: PLAYGROUND_IMAGE_MAP].",
        metavar="FILE",
    ),
]
ContextOption = Annotated[
    str | None,
    typer.Option(
        "--context",
        help="With --on kubernetes: the kubeconfig context of the cluster; with "
        "--on swarm: the Docker context of an existing swarm [default: the current "
        "context].",
        metavar="NAME",
    ),
]
StackArgument = Annotated[
    str,
    typer.Argument(
        help="Stack name (see 'playground stacks') or a Compose file path.",
        metavar="STACK",
        show_default=False,
        autocompletion=_complete_stack,
    ),
]


@contextmanager
def _handled(stack_name: str = "STACK", *, resumable: bool = True) -> Iterator[None]:
    """Turn project errors and Ctrl-C into messages and exit codes.
    After Ctrl-C, ``resumable`` commands (up, down) print how to finish."""
    from playground import render

    try:
        yield
    except PlaygroundError as failure:
        render.error(failure)
        raise typer.Exit(failure.exit_code) from None
    except KeyboardInterrupt as interrupt:
        from playground.errors import EXIT_TERMINATED, Terminated

        if resumable:
            render.info(
                "\ninterrupted; run the same command again to finish, "
                f"or 'playground down {stack_name}' to remove what was started"
            )
        terminated = isinstance(interrupt, Terminated)
        raise typer.Exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED) from None


def _context(
    stack_name: str,
    backend_name: str | None,
    image_map: Path | None = None,
    timeout: float | None = None,
    bind_address: str | None = None,
    starting: bool = False,
    upstream: str | None = None,
    context: str | None = None,
    nodes: int | None = None,
):
    """Resolve settings, stack and backend. ``starting`` (for up) rejects a
    stack that is up on another backend, whose ports and names it holds.
    ``upstream`` (from --upstream) points a mirror stack at another registry."""
    from playground.backends import check_backend_name, find_backends, get_backend
    from playground.errors import UsageError
    from playground.imagemap import load_image_map
    from playground.settings import Settings
    from playground.stack import load_stack

    if backend_name is not None:
        check_backend_name(backend_name)
    if context is not None and backend_name not in ("kubernetes", "swarm"):
        raise UsageError(
            "--context goes with --on kubernetes (a kubeconfig context) or --on swarm "
            "(a Docker context)"
        )
    if nodes is not None and backend_name != "kind":
        raise UsageError("--nodes goes with --on kind")
    settings = Settings.resolve(
        image_map=image_map,
        timeout=timeout,
        bind_address=bind_address,
        mirror_upstream=upstream,
    )
    try:
        stack = load_stack(stack_name, settings.stacks_dir)
    except UsageError:
        stack = None if starting else _stack_left_behind(settings, stack_name)
        if stack is None:
            raise
    else:
        if stack.argument and backend_name != "kubernetes" and context is None:
            _reject_other_file(stack)
    if upstream is not None or stack.mirror is not None:
        from playground import render
        from playground.mirror import running_upstream, upstream_of, with_upstream

        url = settings.mirror_upstream
        if url is None and starting and stack.mirror is not None:
            # A mirror that is up keeps its upstream unless one is given.
            url = running_upstream(stack)
            if url is not None and url != upstream_of(stack):
                render.info(f"keeping the upstream the mirror runs with: {url}")
        stack = with_upstream(stack, url)
    if starting and backend_name != "kubernetes" and context is None:
        # A cluster of the kubeconfig, or a swarm of another Docker context,
        # shares no ports or names with the local engine, and may be reached
        # where no engine runs.
        elsewhere = [name for name in find_backends(stack.name) if name != backend_name]
        if elsewhere:
            raise UsageError(
                f"stack {stack.name} is up on {elsewhere[0]}",
                hint=f"take it down there first: playground down {stack_name} "
                f"--on {elsewhere[0]}",
            )
    if backend_name is None:
        found = find_backends(stack.name)
        if len(found) > 1:
            raise UsageError(
                f"stack {stack.name} is up on {' and '.join(found)}; choose one with --on"
            )
        backend_name = found[0] if found else _recorded_backend(settings, stack.name)
    backend = get_backend(
        backend_name, settings, load_image_map(settings.image_map), context=context, nodes=nodes
    )
    return settings, stack, backend


def _reject_volumes_in_use(stack, backend_name: str) -> None:
    """Raise UsageError when ``down --volumes`` on one Docker backend would
    delete the volumes of the stack that is up on the other: both name
    them alike."""
    from playground.backends import find_backends
    from playground.errors import UsageError

    elsewhere = [name for name in find_backends(stack.name) if name != backend_name]
    if elsewhere:
        raise UsageError(
            f"stack {stack.name} is up on {elsewhere[0]}, not on {backend_name}, and "
            "its volumes are in use there; nothing was deleted",
            hint=f"playground down {stack.command_name} --on {elsewhere[0]} --volumes",
        )


def _stack_left_behind(settings, stack_name: str, files: dict[str, str] | None = None):
    """Return the stack that is up from a user's Compose file, named by its
    stack name or by its file's path, or None if no such stack is up.

    ``files`` maps stack names to their files (read from the containers'
    labels when None). A file that no longer loads (moved, deleted, or
    missing a variable) is replaced by the file that ``up`` rendered into the
    stack's state folder, so ``down``, ``check`` and ``logs`` still reach it.
    """
    from playground.backends import source_files
    from playground.errors import PlaygroundError
    from playground.stack import load_stack

    if files is None:
        files = source_files()
    path = str(Path(stack_name).expanduser().resolve())
    for name, file in files.items():
        if stack_name != name and path not in (file, str(Path(file).parent)):
            continue
        try:
            stack = load_stack(file, settings.stacks_dir)
        except PlaygroundError:
            return _rendered_stack(settings, name, file)
        if stack.name == name:
            return stack
        return _rendered_stack(settings, name, file)
    return None


def _rendered_stack(settings, name: str, file: str):
    """Return stack ``name`` read from the file ``up`` rendered from the
    user's ``file``, or None if no rendered file loads."""
    import dataclasses

    from playground import render
    from playground.errors import PlaygroundError
    from playground.stack import parse_stack

    for rendered in ("compose.yaml", "swarm.yaml"):
        rendered_file = settings.stack_state_dir(name) / rendered
        if not rendered_file.is_file():
            continue
        try:
            stack = parse_stack(rendered_file, name)
        except PlaygroundError:
            continue
        render.info(f"{file} no longer loads; using what up rendered from it: {rendered_file}")
        return dataclasses.replace(stack, argument=file)
    return None


def _reject_other_file(stack) -> None:
    """Raise UsageError when stack ``stack.name`` is up from another Compose
    file, whose services ``up`` would otherwise replace."""
    from playground.backends import source_files
    from playground.errors import UsageError

    running = source_files(stack.name).get(stack.name)
    if running is not None and running != str(stack.file):
        raise UsageError(
            f"stack {stack.name} is up from another file, {running}",
            hint=f"take it down first (playground down {running}), or give "
            f"{stack.command_name} a stack name of its own with a top-level 'name:' key",
        )


def _recorded_backend(settings, stack_name: str) -> str:
    """Return "kind" for a stack that up --on kind recorded, else "compose"."""
    from playground.backends.kind import recorded_on_kind

    return "kind" if recorded_on_kind(settings, stack_name) else "compose"


@app.callback()
def _main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every Docker command to stderr.")
    ] = False,
) -> None:
    if verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")


@app.command()
def stacks(json_output: JsonOption = False) -> None:
    """List the stacks and the backends each one runs on."""
    from playground import render
    from playground.settings import Settings
    from playground.stack import list_stacks, load_stack

    with _handled():
        settings = Settings.resolve()
        rows = []
        for name in list_stacks(settings.stacks_dir):
            stack = load_stack(name, settings.stacks_dir)
            rows.append(
                {
                    "name": name,
                    "description": stack.description,
                    "services": stack.services,
                    "backends": stack.backends,
                }
            )
        if json_output:
            render.print_json(rows)
        else:
            render.print_stacks(rows)


@app.command()
def up(
    stack_name: StackArgument,
    on: OnOption = "compose",
    image_map: ImageMapOption = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds to wait for the stack to be ready [env: PLAYGROUND_TIMEOUT; "
            "default: 180].",
            min=1,
        ),
    ] = None,
    bind: Annotated[
        str | None,
        typer.Option(
            help="Host address for published ports [env: PLAYGROUND_BIND_ADDRESS; "
            "default: 127.0.0.1].",
            metavar="ADDRESS",
        ),
    ] = None,
    mirror: Annotated[
        bool,
        typer.Option(
            "--mirror",
            help="Pull the stack's Docker Hub images through the registry mirror that "
            "is up (playground up mirror), and report which ones it served.",
        ),
    ] = False,
    mirror_stack: Annotated[
        str | None,
        typer.Option(
            help="With several mirror stacks up: the one --mirror uses.", metavar="STACK"
        ),
    ] = None,
    upstream: Annotated[
        str | None,
        typer.Option(
            help="For a mirror stack: the registry it caches, as http(s)://HOST[:PORT] "
            "[env: PLAYGROUND_MIRROR_UPSTREAM; default: Docker Hub].",
            metavar="URL",
        ),
    ] = None,
    context: ContextOption = None,
    nodes: Annotated[
        int | None,
        typer.Option(
            help="With --on kind: nodes of a new cluster, a control plane and N-1 "
            "workers [default: 1].",
            min=1,
            metavar="N",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Bring a stack up, wait until its health checks pass, and show its endpoints."""
    from playground import lifecycle, render
    from playground.lock import stack_lock

    with _handled(stack_name):
        settings, stack, backend = _context(
            stack_name,
            on,
            image_map,
            timeout,
            bind,
            starting=True,
            upstream=upstream,
            context=context,
            nodes=nodes,
        )
        pulls = None
        if mirror or mirror_stack:
            backend, pulls = _through_mirror(
                settings, stack, backend.name, mirror_stack, context=context, nodes=nodes
            )
        started = time.monotonic()
        with stack_lock(settings.state_dir, stack.name):
            render.info(f"bringing {stack.name} up on {backend.name}")
            with render.WaitDisplay(stack.name) as display:
                result, report = lifecycle.up(
                    stack, backend, settings, display, notify=render.warning
                )
        elapsed = time.monotonic() - started
        served = pulls.served() if pulls else None
        advice = _mirror_advice(settings, stack)

        if json_output:
            data = {**render.report_data(report), "changed": result.changed}
            if served is not None:
                data["mirror"] = render.served_data(pulls.mirror, served)
            if advice:
                data["advice"] = advice
            if report.setup:
                data["setup"] = report.setup
            render.print_json(data)
            return
        render.print_report(report)
        if served is not None:
            render.print_served(pulls.mirror, served)
        if result.changed:
            render.info(f"{stack.name} is up on {backend.name} and healthy ({elapsed:.1f} s)")
        else:
            render.info(f"{stack.name} was already up on {backend.name}; nothing changed")
        for line in report.setup:
            render.info(line)
        for line in advice:
            render.info(line)


def _through_mirror(
    settings,
    stack,
    backend_name: str,
    mirror_stack: str | None,
    context: str | None = None,
    nodes: int | None = None,
):
    """Return a backend whose image map sends Docker Hub images to the mirror
    that is up, and the record of the mirror's cache before the pulls.
    ``context`` and ``nodes`` go to the backend as given to ``up``."""
    from playground.backends import get_backend
    from playground.errors import UsageError
    from playground.imagemap import ImageMap, load_image_map
    from playground.mirror import (
        PullRecord,
        find_mirror,
        registry_config,
        relocated_references,
        require_pull_access,
    )
    from playground.stack import load_stack

    if stack.mirror is not None:
        raise UsageError(f"--mirror does not apply to {stack.name}, which is a mirror itself")
    found = find_mirror(settings, mirror_stack)
    require_pull_access(found, registry_config())
    images = load_image_map(settings.image_map).with_mirror(found.prefix)
    mirror_stack_def = load_stack(found.stack, settings.stacks_dir)
    mirror_backend = get_backend(found.backend, settings, ImageMap())
    pulls = PullRecord(
        found,
        relocated_references(stack, images, found),
        lambda: mirror_backend.logs(mirror_stack_def, mirror_stack_def.mirror.service, 5000),
    )
    if not pulls.references:
        raise UsageError(
            f"no image of stack {stack.name} comes from Docker Hub, so the mirror "
            f"at {found.address} would serve none",
            hint="run it without --mirror",
        )
    pulls.take_before()
    backend = get_backend(backend_name, settings, images, context=context, nodes=nodes)
    return backend, pulls


def _mirror_advice(settings, stack) -> list[str]:
    """Return what to tell about the engine after a mirror stack came up."""
    if stack.mirror is None:
        return []
    from playground.mirror import (
        engine_advice,
        find_mirror,
        registry_config,
        upstream_of,
    )

    found = find_mirror(settings, stack.name)
    # A mirror configured by its setup action (harbor) takes the upstream
    # from the settings rather than from its stack file.
    upstream = upstream_of(stack) or settings.mirror_upstream
    return engine_advice(found, upstream, registry_config())


@app.command()
def down(
    stack_name: StackArgument,
    on: FoundOnOption = None,
    volumes: Annotated[
        bool, typer.Option("--volumes", help="Also delete the stack's named volumes (its data).")
    ] = False,
    leave_swarm: Annotated[
        bool,
        typer.Option(
            "--leave-swarm",
            help="With --on swarm: also leave the swarm, if playground created it "
            "and nothing else runs on it.",
        ),
    ] = False,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="With --on kind: also delete the kind cluster, with every stack and "
            "volume in it.",
        ),
    ] = False,
    context: ContextOption = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="With --volumes or --cluster: delete without asking (needed without "
            "a terminal).",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Take a stack down. Named volumes are kept unless --volumes is given."""
    from playground import render
    from playground.errors import UsageError
    from playground.lock import stack_lock

    with _handled(stack_name):
        settings, stack, backend = _context(stack_name, on, context=context)
        if leave_swarm and backend.name != "swarm":
            raise UsageError("--leave-swarm goes with --on swarm")
        if cluster and backend.name != "kind":
            raise UsageError("--cluster goes with --on kind")
        if volumes and on in ("compose", "swarm"):
            _reject_volumes_in_use(stack, on)
        with stack_lock(settings.state_dir, stack.name):
            if (volumes or cluster) and not yes:
                _confirm_deletion(stack, backend, volumes=volumes, cluster=cluster)
            if leave_swarm:
                result = backend.down(stack, volumes=volumes, leave_swarm=True)
            elif cluster:
                result = backend.down(stack, volumes=volumes, delete_cluster=True)
            else:
                result = backend.down(stack, volumes=volumes)
        if json_output:
            render.print_json(
                {
                    "stack": stack.name,
                    "backend": backend.name,
                    "was_up": result.was_up,
                    "removed_volumes": result.removed_volumes,
                    "kept_volumes": result.kept_volumes,
                    "left_swarm": result.left_swarm,
                    "deleted_cluster": result.deleted_cluster,
                }
            )
            return
        if result.was_up:
            render.info(f"{stack.name} is down on {backend.name}")
        else:
            render.info(f"{stack.name} is not up on {backend.name}; nothing to stop")
        if result.removed_volumes:
            render.info("deleted volumes: " + ", ".join(result.removed_volumes))
        if result.left_swarm:
            render.info("left the swarm that playground had created")
        if result.deleted_cluster:
            render.info("deleted the kind cluster")
        if result.kept_volumes:
            render.info(
                "kept volumes: " + ", ".join(result.kept_volumes)
                + " (delete them with --volumes)"
            )


def _stdin_is_terminal() -> bool:
    import sys

    return sys.stdin.isatty()


def _confirm_deletion(stack, backend, *, volumes: bool, cluster: bool) -> None:
    """List what ``down`` is about to delete and ask; without a terminal,
    raise UsageError asking for --yes. Nothing to delete asks nothing."""
    from playground import render
    from playground.errors import UsageError

    doomed = [f"volume {name}" for name in backend.volumes(stack)] if volumes else []
    if cluster:
        doomed.append(f"the kind cluster {backend.cluster} with every stack and volume in it")
    if not doomed:
        return
    listing = "; ".join(doomed)
    if not _stdin_is_terminal():
        raise UsageError(
            f"down would delete {listing}",
            hint="confirm with --yes; no terminal is attached to ask",
        )
    render.info(f"down {stack.name} deletes, for good: {listing}")
    try:
        confirmed = typer.confirm("delete them?", default=False, err=True)
    except typer.Abort:
        # Ctrl-C or end of input at the question: nothing has started yet.
        render.info("\nnothing deleted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if not confirmed:
        render.info("nothing deleted")
        raise typer.Exit(EXIT_FAILED)


@app.command()
def status(
    run_checks: Annotated[
        bool,
        typer.Option(
            "--check", help="Also run each stack's health checks now and show the verdicts."
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Show every playground stack that is up, on every backend, found by the
    labels playground puts on what it creates, with the result of each
    service's last health probe. With --check, exit 1 if a stack is unhealthy."""
    from playground import render
    from playground.backends import get_backend, local_backends
    from playground.imagemap import ImageMap
    from playground.settings import Settings
    from playground.stack import list_stacks, load_stack

    with _handled():
        settings = Settings.resolve()
        backends = {name: get_backend(name, settings, ImageMap()) for name in local_backends()}
        deployed = {name: backend.deployed() for name, backend in backends.items()}
        stacks = {
            name: load_stack(name, settings.stacks_dir)
            for name in list_stacks(settings.stacks_dir)
        }
        stacks.update(_user_stacks(settings))
        reports = _check_all(settings, backends, deployed, stacks) if run_checks else None
        rows = render.status_data(deployed, stacks, reports)
        if json_output:
            render.print_json(rows)
        else:
            render.print_status(rows)
    if any(row["healthy"] is False for row in rows):
        raise typer.Exit(1)


def _user_stacks(settings) -> dict:
    """Return the stacks that are up from users' Compose files, by name,
    loaded from those files or, where a file no longer loads, from what
    ``up`` rendered from it."""
    from playground.backends import source_files

    files = source_files()
    stacks = {}
    for name in files:
        stack = _stack_left_behind(settings, name, files)
        if stack is not None:
            stacks[name] = stack
    return stacks


def _check_all(settings, backends, deployed, stacks) -> dict:
    """Run the checks of every deployed stack whose definition is known."""
    from playground import lifecycle
    from playground.errors import Unhealthy

    reports = {}
    for backend_name, found in deployed.items():
        for name in found:
            if name not in stacks:
                continue
            try:
                report = lifecycle.check(stacks[name], backends[backend_name], settings)
            except Unhealthy:
                continue
            reports[(name, backend_name)] = report
    return reports


@app.command()
def check(
    stack_name: StackArgument,
    on: FoundOnOption = None,
    context: ContextOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run a stack's health checks once; exit 1 if any service fails."""
    from playground import lifecycle, render
    from playground.errors import Unhealthy

    with _handled(stack_name):
        settings, stack, backend = _context(stack_name, on, context=context)
        try:
            report = lifecycle.check(stack, backend, settings)
        except Unhealthy:
            if json_output:
                # Scripts reading stdout get a verdict for a stack that is not up.
                render.print_json(
                    {"stack": stack.name, "backend": backend.name, "healthy": False,
                     "services": []}
                )
            raise
        if json_output:
            render.print_json(render.report_data(report))
        else:
            render.print_report(report)
            render.print_evidence(report)
        if not report.healthy:
            failed = [s.service for s in report.services if not s.ok]
            render.info(f"unhealthy: {', '.join(failed)}")
            raise typer.Exit(EXIT_FAILED)


@app.command()
def export(
    stack_name: StackArgument,
    to: Annotated[
        str,
        typer.Option(
            "--to", help="What to print: kubernetes, swarm or compose.", metavar="TARGET"
        ),
    ] = "kubernetes",
    image_map: ImageMapOption = None,
    json_output: JsonOption = False,
) -> None:
    """Print what a stack becomes on a backend, after a list of what changed."""
    from playground import render
    from playground.export import export_stack
    from playground.imagemap import load_image_map
    from playground.settings import Settings
    from playground.stack import load_stack

    with _handled(stack_name):
        settings = Settings.resolve(image_map=image_map)
        stack = load_stack(stack_name, settings.stacks_dir)
        result = export_stack(stack, to, settings, load_image_map(settings.image_map))
        if json_output:
            render.print_json(
                {"target": result.target, "changes": result.changes, "documents": result.documents}
            )
        else:
            render.print_text(result.yaml_text())


@app.command()
def logs(
    stack_name: StackArgument,
    service: Annotated[
        str | None,
        typer.Argument(help="One service of the stack [default: all].", show_default=False),
    ] = None,
    on: FoundOnOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
    tail: Annotated[
        int, typer.Option(help="Lines to print from the end of each log first.", min=0)
    ] = 100,
    context: ContextOption = None,
) -> None:
    """Print the logs of a stack's services, on any backend."""
    from playground.errors import UsageError

    with _handled(stack_name, resumable=False):
        _settings, stack, backend = _context(stack_name, on, context=context)
        if service is not None and service not in stack.services:
            raise UsageError(
                f"stack {stack.name} has no service {service!r}; its services: "
                + ", ".join(stack.services)
            )
        if not backend.states(stack):
            raise UsageError(
                f"stack {stack.name} is not up on {backend.name}",
                hint=f"run 'playground up {stack_name} --on {backend.name}'",
            )
        services = [service] if service else stack.services
        try:
            for line in backend.stream_logs(stack, services, tail, follow):
                print(line, flush=follow)
        except BrokenPipeError:
            # The reader (head, less) has gone; that ends the output quietly.
            sys.stdout = None


@app.command()
def doctor(json_output: JsonOption = False) -> None:
    """Check the machine: engine, Compose, Swarm and its routing mesh, kind,
    kubectl, the kind cluster, the image store, the stacks' ports and the
    registry mirror. Exit 1 when a check fails."""
    from playground import doctor as checks
    from playground import render
    from playground.settings import Settings

    with _handled():
        findings = checks.examine(Settings.resolve())
        if json_output:
            render.print_json([finding.as_dict() for finding in findings])
        else:
            render.print_findings(findings)
        if checks.failed(findings):
            raise typer.Exit(EXIT_FAILED)


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    app()


def _terminate(signum: int, frame: object) -> None:
    """Pass SIGTERM on to the Docker commands playground runs, which, unlike
    Ctrl-C in a terminal, it does not reach, then unwind like Ctrl-C."""
    import os

    from playground.errors import Terminated

    for pid in _child_processes(os.getpid()):
        try:
            os.kill(pid, signum)
        except OSError:
            pass
    raise Terminated


def _child_processes(pid: int) -> list[int]:
    """Return the IDs of the processes whose parent is ``pid``, from /proc
    (empty where there is none)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            children.append(int(stat.parent.name))
    return children
