import socket

from playground.ports import HostBinding, busy, is_free, listening_process


def test_held_port_is_busy_and_named():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        binding = HostBinding("127.0.0.1", port)

        assert not is_free(binding)
        assert busy([binding]) == [binding]
        assert "pid" in (listening_process(port) or "")


def test_released_port_is_free():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert is_free(HostBinding("127.0.0.1", port))
    assert listening_process(port) is None
