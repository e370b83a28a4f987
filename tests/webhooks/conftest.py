"""The webhooks tests' receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on a free loopback port; its secret is set once the endpoint has one."""
    started = Receiver().start()
    yield started
    started.stop()
