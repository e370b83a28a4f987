"""What the automations' tests share."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient


def add_subscriber(client: FlaskClient, email: str) -> dict[str, Any]:
    """A subscriber on no list, made through the API; its data as the API answers it."""
    response = client.post("/api/subscribers", json={"email": email, "name": email.split("@", maxsplit=1)[0]})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json()["data"])
