"""Paths of lists' public pages: routed by lists/public_views.py, linked to from mail (mailer/campaigns.py)."""

from __future__ import annotations

from core.urls import PublicPath

SUBSCRIPTION_FORM = PublicPath("/subscription/form")
OPTIN = PublicPath("/subscription/optin/<subscriber_uuid>")  # ?t=<token>&l=<list uuid>…: listmonk's link
UNSUBSCRIBE = PublicPath("/u/<token>")
PREFERENCES = PublicPath("/p/<token>")
