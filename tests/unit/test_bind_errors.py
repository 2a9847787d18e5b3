"""A listener that cannot bind says where, why, and which setting moves it (real binds)."""

from __future__ import annotations

import socket

import pytest

from gateway.cli.binding import BindError, bind_error


def bind(host: str, port: int) -> OSError:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    raise AssertionError(f"{host}:{port} was free")


def test_a_taken_port_names_the_port_setting_its_variable_and_option():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        error = bind_error("admin", "127.0.0.1", port, bind("127.0.0.1", port))
    assert isinstance(error, BindError)
    assert str(error) == (
        f"cannot listen on 127.0.0.1:{port} (address already in use): "
        "change admin.port (WALLETGATE_ADMIN__PORT or --admin-port)"
    )


def test_an_address_this_host_lacks_names_the_host_setting():
    error = bind_error("listen", "192.0.2.1", 8080, bind("192.0.2.1", 8080))
    assert str(error) == (
        "cannot listen on 192.0.2.1:8080 (cannot assign requested address): "
        "change listen.host (WALLETGATE_LISTEN__HOST or --host)"
    )


def test_an_unknown_host_name_names_the_host_setting():
    with pytest.raises(OSError) as caught:
        socket.getaddrinfo("nosuchhost.invalid", 8080)
    error = bind_error("listen", "nosuchhost.invalid", 8080, caught.value)
    assert str(error).startswith("cannot listen on nosuchhost.invalid:8080 (")
    assert str(error).endswith("change listen.host (WALLETGATE_LISTEN__HOST or --host)")
