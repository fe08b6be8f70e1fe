"""Setup actions: the work a stack needs before it starts and once it is
ready, which Compose has no word for.

A stack names one action in ``x-playground.setup``. ``lifecycle.up`` calls
its ``prepare`` before the backend starts anything, and its ``configure``
once every service is ready. Then it waits for the checks again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from playground.backends import Backend
    from playground.settings import Settings
    from playground.stack import Stack


class SetupAction(Protocol):
    def prepare(self, stack: Stack, backend_name: str, settings: Settings) -> Stack:
        """Write what the stack needs before it starts (generated files, for
        example) and return the stack to start, which may differ from
        ``stack``. Raises a PlaygroundError when the stack cannot run there."""
        ...

    def configure(self, stack: Stack, backend: Backend, settings: Settings) -> list[str]:
        """Configure the ready stack through its own API and return lines
        for the user. Must find and reuse what an earlier run created."""
        ...


def setup_action(stack: Stack) -> SetupAction | None:
    """Return the setup action ``stack`` names, or None.

    ``stack.setup`` is one of ``stack.SETUP_ACTIONS``: parse_stack rejects
    any other name.
    """
    if stack.setup == "harbor":
        from playground.harbor_stack import HarborSetup

        return HarborSetup()
    return None
