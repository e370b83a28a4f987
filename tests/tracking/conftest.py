"""Fixtures of the tracking tests: the inbound SMTP server, a stand-in for AWS's SNS."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask

from tests.tracking.sns_stand_in import FakeAWS, certificate
from tracking.inbound import start_inbound


@pytest.fixture
def inbound(app: Flask) -> Iterator[int]:
    """The inbound server of the test app on its KAIRAN_BOUNCE_PORT; yield the port."""
    port = app.config["KAIRAN"].bounces.port
    controller = start_inbound(app, port)
    yield port
    controller.stop()


@pytest.fixture
def aws(tmp_path: Path) -> Iterator[FakeAWS]:
    """Serve an SNS signing certificate and a SubscribeURL over TLS, with a CA the test made."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Kairan test CA", ca_key, None, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = certificate("localhost", server_key, ca, ca_key, hosts=("localhost",))
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing_cert = certificate("sns.amazonaws.com", signing_key, ca, ca_key)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_pem = server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
    (tmp_path / "server.pem").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM) + server_pem)
    pem = signing_cert.public_bytes(serialization.Encoding.PEM)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = pem if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield FakeAWS(f"https://localhost:{server.server_address[1]}", str(tmp_path / "ca.pem"), signing_key, seen)
    server.shutdown()
    server.server_close()


@pytest.fixture
def sns_app(app: Flask, aws: FakeAWS) -> Flask:
    """The app, trusting the local stand-in for AWS instead of AWS (what production can never be told)."""
    app.config.update(SNS_TEST_HOSTS=aws.base.removeprefix("https://"), SNS_TEST_CA_FILE=aws.ca_file)
    return app
