"""The domain model (DESIGN §2). Importing this package registers every table."""

from feedback.models.audit import AdminLog
from feedback.models.base import utcnow
from feedback.models.items import Attachment, Event, FeedbackItem, InboundSms, Support
from feedback.models.organisations import ApiKey, Partner, User, UserSite
from feedback.models.outbox import OutboxMessage
from feedback.models.places import Area, Kiosk, ReservedCode, Site
from feedback.models.security import LoginAttempt, UsedToken
from feedback.models.stats import (
    DueMonthStat,
    DueStat,
    DurationStat,
    EquityStat,
    NationalDurationStat,
    NationalEquityStat,
    NationalTopicStat,
    PlaceStat,
    SiteDurationStat,
    SiteEquityStat,
    SiteTopicStat,
    TopicStat,
)
from feedback.models.taxonomy import (
    DeadlineRule,
    Dhis2Mapping,
    Holiday,
    RoutingRule,
    Topic,
    TopicCode,
    VoicePrompt,
)

__all__ = [
    "AdminLog",
    "ApiKey",
    "Area",
    "Attachment",
    "DeadlineRule",
    "Dhis2Mapping",
    "DueMonthStat",
    "DueStat",
    "DurationStat",
    "EquityStat",
    "Event",
    "FeedbackItem",
    "Holiday",
    "InboundSms",
    "Kiosk",
    "LoginAttempt",
    "NationalDurationStat",
    "NationalEquityStat",
    "NationalTopicStat",
    "OutboxMessage",
    "Partner",
    "PlaceStat",
    "SiteDurationStat",
    "SiteEquityStat",
    "SiteTopicStat",
    "ReservedCode",
    "RoutingRule",
    "Site",
    "Support",
    "Topic",
    "TopicCode",
    "TopicStat",
    "UsedToken",
    "User",
    "UserSite",
    "VoicePrompt",
    "utcnow",
]
