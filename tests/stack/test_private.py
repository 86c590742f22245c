"""Private stacks' ports: chosen where nothing else picks ports on its own."""

from __future__ import annotations

from stack.private import _ephemeral_range, free_port


def test_free_ports_are_below_the_ephemeral_range_and_never_handed_out_twice() -> None:
    # bind(0) and outgoing connections take ports from the ephemeral range; a private stack's
    # port, named seconds before its service binds it, must not be one of those.
    low, _ = _ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port < low for port in ports), sorted(ports)
