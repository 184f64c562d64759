"""Who hears about what, from settings. Nothing configured means nothing is queued for that audience."""

from __future__ import annotations

from dataclasses import dataclass

from tracking.settings import Settings, get_settings


@dataclass(frozen=True)
class Recipient:
    channel: str  # email | webhook
    address: str


def navigators(settings: Settings | None = None) -> list[Recipient]:
    settings = settings or get_settings()
    return _present(("email", settings.navigator_email), ("webhook", settings.alert_webhook_url))


def escalation(settings: Settings | None = None) -> list[Recipient]:
    """The navigator lead / medical director, for level 2-3 alerts and stalled prior films."""
    settings = settings or get_settings()
    return _present(
        ("email", settings.escalation_email or settings.navigator_email), ("webhook", settings.alert_webhook_url)
    )


def patient_messaging(settings: Settings | None = None) -> list[Recipient]:
    settings = settings or get_settings()
    return _present(("webhook", settings.patient_messaging_webhook_url))


def for_alert_level(level: int, settings: Settings | None = None) -> list[Recipient]:
    return navigators(settings) if level <= 1 else escalation(settings)


def facility(channel: str, contact: str, settings: Settings | None = None) -> tuple[list[Recipient], bool]:
    """(recipients, automatic): email and webhook facilities are sent to; fax/phone/post become navigator tasks."""
    if channel in ("email", "webhook"):
        return [Recipient(channel, contact)], True
    return navigators(settings), False


def _present(*pairs: tuple[str, str | None]) -> list[Recipient]:
    return [Recipient(channel, address) for channel, address in pairs if address]
