"""Public paths are written once (lists/paths.py, mailer/paths.py): the links built from them reach their pages."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask

from core.urls import PublicPath
from lists.paths import OPTIN, PREFERENCES, SUBSCRIPTION_FORM, UNSUBSCRIBE
from mailer.paths import ARCHIVE_MESSAGE, CLICK, MEDIA_FILE, OPEN_PIXEL

UUID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"


@pytest.mark.parametrize(("page", "values", "endpoint"), [
    (SUBSCRIPTION_FORM, {}, "public.subscription_form"),
    (OPTIN, {"subscriber_uuid": UUID, "t": "eyJ.sig", "l": [UUID, UUID]}, "public.optin"),
    (UNSUBSCRIBE, {"token": "WyJ4IiwgMV0.sig"}, "public.unsubscribe_page"),
    (PREFERENCES, {"token": "WyJ4IiwgMV0.sig"}, "public.preferences"),
    (ARCHIVE_MESSAGE, {"campaign_uuid": UUID}, "compose.archive_message"),
    (MEDIA_FILE, {"uuid": UUID, "ext": "png"}, "media.image"),
    (CLICK, {"token": "1-2-0123456789abcdef"}, "tracking.click"),
])
def test_a_link_built_from_a_path_is_routed_to_its_page(app: Flask, page: PublicPath, values: dict[str, str],
                                                        endpoint: str) -> None:
    url = urlsplit(page.link("https://news.example.jp", **values))
    assert url.netloc == "news.example.jp"
    routed, arguments = app.url_map.bind("news.example.jp").match(url.path, query_args=url.query)
    assert routed == endpoint
    assert arguments == {name: value for name, value in values.items() if name in page.variables}
    assert page.value_in(url.path) == url.path.removeprefix(page.prefix).removesuffix(page.suffix)


def test_the_open_pixel_is_answered_in_front_of_flask_and_other_paths_are_not_its(app: Flask) -> None:
    pixel = urlsplit(OPEN_PIXEL.link("https://news.example.jp", token="1-0123456789abcdef")).path
    answer = app.test_client().get(pixel)
    assert (answer.status_code, answer.mimetype) == (200, "image/gif")  # whatever the token
    assert OPEN_PIXEL.value_in(pixel) == "1-0123456789abcdef"
    assert OPEN_PIXEL.value_in("/o/1-0123456789abcdef") is None and CLICK.value_in(pixel) is None
    assert app.test_client().get("/o/1-0123456789abcdef").status_code == 404  # not the pixel: Flask's answer


def test_a_path_gives_a_pattern_of_its_paths() -> None:
    found = PublicPath("/media/<uuid>.<ext>").pattern("[a-z0-9-]+")
    assert found == r"/media/(?P<uuid>[a-z0-9-]+)\.(?P<ext>[a-z0-9-]+)"
    assert PublicPath("/item/<int:item_id>").link("", item_id="7") == "/item/7"
