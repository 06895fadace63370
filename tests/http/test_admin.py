"""The administration pages over HTTP: who may see them, the create/edit flows, uploads,
the register of processing, the admin log, and CSRF on every POST."""

from __future__ import annotations

import csv
import io
import re
import wave
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.routing import Route

from feedback.db import Database
from feedback.models import (
    AdminLog,
    ApiKey,
    Area,
    DeadlineRule,
    Holiday,
    Partner,
    RoutingRule,
    Site,
    Topic,
    TopicCode,
    User,
    VoicePrompt,
)
from feedback.web.admin import routes as admin_routes
from tests.conftest import csrf_token, login

OTHER_ROLES = ["moderatrice", "sauvegarde", "agent.laf", "chef.laf", "comite.laf"]


def tiny_wav(seconds: float = 0.2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * int(8000 * seconds))
    return buffer.getvalue()


async def ids(db: Database) -> dict[str, Any]:
    async with db.read() as s:
        return {
            "area_id": await s.scalar(select(Area.id).where(Area.code == "ML-BKO-C4")),
            "site_id": await s.scalar(select(Site.id).where(Site.code == "BKO-C4-LAF")),
            "partner_id": await s.scalar(select(Partner.id).where(Partner.slug == "dtc-laf")),
            "user_id": await s.scalar(select(User.id).where(User.login == "agent.laf")),
            "topic_id": await s.scalar(select(Topic.id).where(Topic.slug == "waiting")),
            "code_id": await s.scalar(select(TopicCode.id).limit(1)),
            "routing_rule_id": await s.scalar(select(RoutingRule.id).limit(1)),
            "holiday_id": await s.scalar(select(Holiday.id).limit(1)),
        }


def admin_get_paths(known: dict[str, Any]) -> list[str]:
    """Every GET page of the admin, with real ids filled in."""
    paths = []
    for route in admin_routes:
        assert isinstance(route, Route)
        if "GET" not in (route.methods or ()):
            continue
        params = {name: known.get(name) for name in route.param_convertors}
        if "screen" in params:
            continue  # the audio of a prompt: tested with an upload
        if any(v is None for v in params.values()):
            continue  # no such record in the seed (e.g. DHIS2 mappings)
        paths.append("/admin" + route.url_path_for(route.name, **params))
    return paths


async def post(client: httpx.AsyncClient, path: str, data: dict[str, Any] | None = None,
               files: dict[str, Any] | None = None, page: str = "/admin/") -> httpx.Response:
    token = await csrf_token(client, page)
    return await client.post(path, data={**(data or {}), "csrf_token": token}, files=files)


async def log_actions(db: Database) -> list[str]:
    async with db.read() as s:
        return list((await s.scalars(select(AdminLog.action).order_by(AdminLog.id))).all())


# --- who may use the admin ------------------------------------------------------------------


def test_every_admin_handler_is_for_admins_only() -> None:
    for route in admin_routes:
        assert getattr(route.endpoint, "allowed_roles", None) == ("admin",), route.path


async def test_every_admin_page_renders_for_an_admin(client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "admin")
    paths = admin_get_paths(await ids(db))
    assert len(paths) >= 30
    for path in paths:
        response = await client.get(path, params={"lang": "en"})
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "no-store"


async def test_admin_pages_are_404_for_every_other_role(client: httpx.AsyncClient, db: Database) -> None:
    paths = admin_get_paths(await ids(db))
    for role_login in OTHER_ROLES:
        client.cookies.clear()
        await login(client, role_login)
        for path in paths:
            response = await client.get(path)
            assert response.status_code == 404, (role_login, path)


async def test_signed_out_visitors_are_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/sites")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


async def test_every_admin_post_refuses_a_missing_or_wrong_csrf_token(client: httpx.AsyncClient, db: Database) -> None:
    known = await ids(db)
    known.update({"screen": "say", "locale": "fr", "key_id": 1, "user_id": known["user_id"]})
    await login(client, "admin")
    before = await log_actions(db)
    posts = []
    for route in admin_routes:
        if "POST" in (route.methods or ()):
            params = {name: known.get(name) or 1 for name in route.param_convertors}
            posts.append("/admin" + route.url_path_for(route.name, **params))
    assert len(posts) >= 20
    for path in posts:
        missing = await client.post(path, data={"name": "x"})
        wrong = await client.post(path, data={"name": "x", "csrf_token": "0" * 64})
        assert missing.status_code == 403, path
        assert wrong.status_code == 403, path
    assert await log_actions(db) == before


# --- places ---------------------------------------------------------------------------------


async def test_create_and_edit_a_site_with_its_kiosk_link_and_poster(client: httpx.AsyncClient, db: Database) -> None:
    known = await ids(db)
    await login(client, "admin")
    form = {"code": "bko-c4-new", "name": "CSCOM de Test", "kind": "cscom", "area_id": known["area_id"],
            "latitude": "12,6431", "longitude": "-8.04", "languages": ["bm", "fr"], "active": "1"}
    response = await post(client, "/admin/sites/new", form)
    assert response.status_code == 303
    async with db.read() as s:
        site = await s.scalar(select(Site).where(Site.code == "BKO-C4-NEW"))
    assert site is not None and site.latitude == pytest.approx(12.6431) and site.languages == "fr,bm"
    assert response.headers["location"] == f"/admin/sites/{site.id}?done=created"

    page = await client.get(f"/admin/sites/{site.id}")
    assert "/kiosk/BKO-C4-NEW" in page.text and f"/admin/sites/{site.id}/poster" in page.text
    listing = await client.get("/admin/sites")
    assert '/kiosk/BKO-C4-NEW">' in listing.text

    poster = await client.get(f"/admin/sites/{site.id}/poster")
    assert poster.status_code == 200
    assert poster.text.count("<svg") >= 2 and 'class="segno"' in poster.text
    assert "http://testserver/kiosk/BKO-C4-NEW" in poster.text
    assert "http://testserver/board/sites/BKO-C4-NEW" in poster.text
    assert "style=" not in poster.text  # the CSP forbids inline styles

    form.update(name="CSCOM de Test II", active="")
    form.pop("active")
    response = await post(client, f"/admin/sites/{site.id}", form)
    assert response.status_code == 303
    async with db.read() as s:
        site = await s.get(Site, site.id)
        entries = (await s.scalars(select(AdminLog).where(AdminLog.target == "site:BKO-C4-NEW").order_by(AdminLog.id))).all()
    assert site.name == "CSCOM de Test II" and site.active is False
    assert [e.action for e in entries] == ["site.create", "site.update"]
    assert entries[1].details["name"] == ["CSCOM de Test", "CSCOM de Test II"]
    assert entries[1].actor_label == "admin"


BAD_SITES = [
    ({"code": "BKO-C4-LAF"}, "A site with the code BKO-C4-LAF already exists."),
    ({"area_id": "999999"}, "Unknown area."),
    ({"area_id": "abc"}, "Choose from the list."),
    ({"latitude": "95", "longitude": "-8"}, "The latitude must be between -90 and 90."),
    ({"latitude": "north", "longitude": "-8"}, "Enter a number, for example 12.6430."),
    ({"latitude": "12.6"}, "Give both latitude and longitude, or neither."),
    ({"code": ""}, "This field is required."),
    ({"kind": "palace"}, "Choose from the list."),
    ({"languages": "xx"}, "Choose at least one language."),
]


async def test_bad_site_input_shows_the_form_again_with_a_400(client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "admin")
    before = await log_actions(db)
    for change, message in BAD_SITES:
        form = {"code": "BKO-X-1", "name": "Site X", "kind": "cscom", "languages": "fr", **change}
        response = await post(client, "/admin/sites/new", form, page="/admin/sites/new?lang=en")
        assert response.status_code == 400, change
        assert message in response.text, change
        assert 'name="code"' in response.text  # the form again, with what was typed
    assert await log_actions(db) == before


async def test_site_errors_are_translated(client: httpx.AsyncClient) -> None:
    await login(client, "admin")
    await client.get("/language", params={"lang": "fr"})
    form = {"code": "BKO-C4-LAF", "name": "Doublon", "kind": "cscom", "languages": "fr"}
    response = await post(client, "/admin/sites/new", form)
    assert response.status_code == 400
    assert 'lang="fr"' in response.text


async def test_create_and_edit_an_area_and_refuse_a_loop(client: httpx.AsyncClient, db: Database) -> None:
    known = await ids(db)
    await login(client, "admin")
    response = await post(client, "/admin/areas/new", {"code": "ml-bko-c4-q1", "name": "Lafiabougou",
                                                       "level": "quartier", "parent_id": known["area_id"]})
    assert response.status_code == 303
    async with db.read() as s:
        area = await s.scalar(select(Area).where(Area.code == "ML-BKO-C4-Q1"))
    assert area is not None and area.parent_id == known["area_id"]
    # The commune cannot be put inside its own quartier.
    response = await post(client, f"/admin/areas/{known['area_id']}", {
        "code": "ML-BKO-C4", "name": "Commune IV", "level": "commune", "parent_id": area.id})
    assert response.status_code == 400
    assert "An area cannot be inside itself." in response.text


# --- partners and users ---------------------------------------------------------------------


async def test_partner_escalation_chain_and_cycle_refusal(client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "admin")
    async with db.read() as s:
        by_slug = {p.slug: p for p in (await s.scalars(select(Partner))).all()}
    # dtc-laf → asaco-laf → district-c4 → ong: the NGO may not escalate back to the CSCOM.
    ngo = by_slug["ong-sante-mere-enfant"]
    form = {"slug": ngo.slug, "name": ngo.name, "kind": ngo.kind, "locale": "fr", "is_default": "1",
            "escalation_partner_id": by_slug["dtc-laf"].id}
    response = await post(client, f"/admin/partners/{ngo.id}", form, page="/admin/?lang=en")
    assert response.status_code == 400
    assert "escalation chain go round in a circle" in response.text
    async with db.read() as s:
        assert (await s.get(Partner, ngo.id)).escalation_partner_id is None

    page = await client.get(f"/admin/partners/{by_slug['dtc-laf'].id}")
    chain = re.search(r'<ol class="chain">(.*?)</ol>', page.text, re.S).group(1)
    assert chain.index("ASACO — Lafiabougou") < chain.index("Commune IV") < chain.index("ONG Santé Mère-Enfant")

    response = await post(client, "/admin/partners/new", {
        "slug": "relais-c4", "name": "Relais de la Commune IV", "kind": "chw_programme", "locale": "bm",
        "escalation_partner_id": by_slug["programme-asc"].id, "email": "relais@ong.invalid"})
    assert response.status_code == 303
    response = await post(client, "/admin/partners/new", {"slug": "relais-c4", "name": "Doublon", "kind": "other",
                                                          "locale": "fr"})
    assert response.status_code == 400
    assert "A partner with the slug relais-c4 already exists." in response.text


async def test_user_lifecycle_create_reset_link_role_change_deactivate(client: httpx.AsyncClient, db: Database) -> None:
    known = await ids(db)
    await login(client, "admin")
    response = await post(client, "/admin/users/new", {"login": "Agent.Nouveau", "name": "Nouvel Agent",
                                                       "role": "partner_agent", "locale": "fr"},
                          page="/admin/?lang=en")
    assert response.status_code == 400
    assert "Partner agents and managers need a partner." in response.text

    response = await post(client, "/admin/users/new", {"login": "Agent.Nouveau", "name": "Nouvel Agent",
                                                       "role": "partner_agent", "locale": "fr",
                                                       "partner_id": known["partner_id"]})
    assert response.status_code == 303
    async with db.read() as s:
        user = await s.scalar(select(User).where(User.login == "agent.nouveau"))
    assert user is not None and user.partner_id == known["partner_id"]

    page = await client.post(f"/admin/users/{user.id}/reset", data={"csrf_token": await csrf_token(client, "/admin/")})
    assert page.status_code == 200
    link = re.search(r"http://testserver(/reset/[^<\s]+)", page.text).group(1)
    # The link lets the new user choose a password, once; then they can sign in with it.
    client.cookies.clear()
    assert (await client.get(link)).status_code == 200
    new = "un mot de passe tout neuf"
    token = await csrf_token(client, link)
    done = await client.post(link, data={"new_password": new, "confirm_password": new, "csrf_token": token})
    assert done.status_code == 303
    assert (await client.get(link)).status_code == 400
    await login(client, "agent.nouveau", new)
    client.cookies.clear()
    await login(client, "admin")

    response = await post(client, f"/admin/users/{user.id}", {"name": "Nouvel Agent", "role": "community_monitor",
                                                              "locale": "bm", "site_ids": [known["site_id"]]})
    assert response.status_code == 303
    response = await post(client, f"/admin/users/{user.id}/active", {"active": "0"})
    assert response.status_code == 303
    async with db.read() as s:
        user = await s.get(User, user.id)
    assert user.role == "community_monitor" and user.locale == "bm" and user.active is False
    actions = await log_actions(db)
    assert actions[-4:] == ["user.create", "user.reset_link", "user.update", "user.deactivate"]
    # The reset link is never written to the log.
    async with db.read() as s:
        details = (await s.scalars(select(AdminLog.details))).all()
    assert all("reset" not in str(d) for d in details)


async def test_an_admin_cannot_deactivate_themselves(client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "admin")
    async with db.read() as s:
        me = await s.scalar(select(User.id).where(User.login == "admin"))
    response = await post(client, f"/admin/users/{me}/active", {"active": "0"}, page="/admin/?lang=en")
    assert response.status_code == 400
    assert "You cannot deactivate your own account." in response.text


# --- taxonomy, rules, holidays, DHIS2 ---------------------------------------------------------


async def test_editing_a_topic_bumps_its_version_and_codes_are_retired_not_deleted(client: httpx.AsyncClient, db: Database) -> None:
    known = await ids(db)
    await login(client, "admin")
    async with db.read() as s:
        topic = await s.get(Topic, known["topic_id"])
    form = {"label_fr": "Attente", "label_bm": topic.label_bm, "label_en": topic.label_en, "icon": "clock",
            "sensitivity": "S0", "position": "1", "active": "1"}
    assert (await post(client, f"/admin/topics/{topic.id}", form)).status_code == 303
    response = await post(client, f"/admin/topics/{topic.id}", {**form, "icon": "../../etc/passwd"})
    assert response.status_code == 400
    response = await post(client, "/admin/codes/new", {"topic_id": topic.id, "slug": "night", "label_fr": "Nuit",
                                                       "label_bm": "Su", "label_en": "Night", "sensitivity": "S0",
                                                       "active": "1"})
    assert response.status_code == 303
    async with db.read() as s:
        after = await s.get(Topic, topic.id)
        code = await s.scalar(select(TopicCode).where(TopicCode.slug == "night"))
    assert after.label_fr == "Attente" and after.icon == "clock" and after.version == topic.version + 2
    # Retire the code: it stays, inactive.
    response = await post(client, f"/admin/codes/{code.id}", {"topic_id": topic.id, "slug": "night", "label_fr": "Nuit",
                                                              "label_bm": "Su", "label_en": "Night", "sensitivity": "S0"})
    assert response.status_code == 303
    async with db.read() as s:
        assert (await s.get(TopicCode, code.id)).active is False
    assert (await client.post(f"/admin/codes/{code.id}/delete")).status_code in (403, 404, 405)


async def test_routing_rule_create_duplicate_and_delete(client: httpx.AsyncClient, db: Database) -> None:
    known = await ids(db)
    await login(client, "admin")
    form = {"site_id": known["site_id"], "topic_id": known["topic_id"], "partner_id": known["partner_id"]}
    assert (await post(client, "/admin/routing_rules/new", form)).status_code == 303
    again = await post(client, "/admin/routing_rules/new", form, page="/admin/?lang=en")
    assert again.status_code == 400 and "A rule for this site and topic already exists" in again.text
    unknown = await post(client, "/admin/routing_rules/new", {**form, "partner_id": "999999"})
    assert unknown.status_code == 400
    async with db.read() as s:
        rule = await s.scalar(select(RoutingRule).where(RoutingRule.site_id == known["site_id"],
                                                        RoutingRule.topic_id == known["topic_id"]))
    assert (await post(client, f"/admin/routing_rules/{rule.id}/delete")).status_code == 303
    async with db.read() as s:
        assert await s.get(RoutingRule, rule.id) is None
    assert (await log_actions(db))[-2:] == ["routing_rule.create", "routing_rule.delete"]


async def test_deadline_rules_holidays_and_dhis2_mappings(client: httpx.AsyncClient, db: Database) -> None:
    known = await ids(db)
    await login(client, "admin")
    response = await post(client, "/admin/deadline_rules/new", {"topic_id": known["topic_id"], "feedback_type": "question",
                                                                "acknowledge_working_days": "1", "resolve_days": "3"})
    assert response.status_code == 303
    bad = await post(client, "/admin/deadline_rules/new", {"acknowledge_working_days": "two", "resolve_days": "0"},
                     page="/admin/?lang=en")
    assert bad.status_code == 400 and "Enter a whole number." in bad.text
    async with db.read() as s:
        rule = await s.scalar(select(DeadlineRule).where(DeadlineRule.feedback_type == "question"))
    assert rule.acknowledge_working_days == 1 and rule.resolve_days == 3

    assert (await post(client, "/admin/holidays/new", {"day": "2031-09-22", "name": "Fête de l'indépendance"})).status_code == 303
    dup = await post(client, "/admin/holidays/new", {"day": "2031-09-22", "name": "Encore"}, page="/admin/?lang=en")
    assert dup.status_code == 400 and "This day is already a holiday." in dup.text
    bad_day = await post(client, "/admin/holidays/new", {"day": "22/09/2031", "name": "x"}, page="/admin/?lang=en")
    assert bad_day.status_code == 400 and "Enter a date as YYYY-MM-DD." in bad_day.text

    assert (await post(client, "/admin/dhis2_mappings/new", {"indicator": "received", "data_element": "FbRcv01"})).status_code == 303
    listing = await client.get("/admin/dhis2_mappings")
    assert "FbRcv01" in listing.text


# --- voice prompts --------------------------------------------------------------------------


async def test_voice_prompt_upload_play_back_replace_and_refuse_non_audio(client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "admin")
    audio = tiny_wav()
    response = await post(client, "/admin/voice-prompts/topic/bm/upload",
                          files={"file": ("topic.wav", audio, "application/octet-stream")})
    assert response.status_code == 303
    played = await client.get("/admin/voice-prompts/topic/bm")
    assert played.status_code == 200
    assert played.content == audio and played.headers["content-type"] == "audio/wav"
    page = await client.get("/admin/voice-prompts")
    assert '/admin/voice-prompts/topic/bm"' in page.text

    # A text file dressed up as audio is refused; the recording in place stays.
    refused = await post(client, "/admin/voice-prompts/topic/bm/upload",
                         files={"file": ("evil.wav", b"<script>alert(1)</script>", "audio/wav")},
                         page="/admin/?lang=en")
    assert refused.status_code == 400
    assert "This file is not a voice recording we can play." in refused.text
    empty = await post(client, "/admin/voice-prompts/say/fr/upload", files={"file": ("a.wav", b"", "audio/wav")})
    assert empty.status_code == 400
    unknown = await post(client, "/admin/voice-prompts/nowhere/fr/upload", files={"file": ("a.wav", audio, "audio/wav")})
    assert unknown.status_code == 404

    longer = tiny_wav(0.5)
    assert (await post(client, "/admin/voice-prompts/topic/bm/upload", files={"file": ("t.wav", longer, "audio/wav")})).status_code == 303
    async with db.read() as s:
        count = await s.scalar(select(func.count()).select_from(VoicePrompt))
    assert count == 1
    assert (await client.get("/admin/voice-prompts/topic/bm")).content == longer
    assert (await post(client, "/admin/voice-prompts/topic/bm/delete")).status_code == 303
    assert (await client.get("/admin/voice-prompts/topic/bm")).status_code == 404
    assert (await log_actions(db))[-3:] == ["voice_prompt.upload", "voice_prompt.upload", "voice_prompt.delete"]


# --- API keys, register, log, import ----------------------------------------------------------


async def test_api_key_is_shown_once_and_can_be_revoked(client: httpx.AsyncClient, db: Database) -> None:
    known = await ids(db)
    await login(client, "admin")
    response = await post(client, "/admin/api-keys/new", {"name": "Intégrateur", "partner_id": known["partner_id"]})
    assert response.status_code == 200
    key = re.search(r'<code class="secret">(sk_[^<]+)</code>', response.text).group(1)
    listing = await client.get("/admin/api-keys")
    assert key not in listing.text and key[:8] in listing.text
    async with db.read() as s:
        stored = await s.scalar(select(ApiKey).where(ApiKey.name == "Intégrateur"))
    assert (await post(client, f"/admin/api-keys/{stored.id}/revoke")).status_code == 303
    async with db.read() as s:
        assert (await s.get(ApiKey, stored.id)).revoked_at is not None
    assert (await post(client, f"/admin/api-keys/{stored.id}/revoke")).status_code == 404
    nameless = await post(client, "/admin/api-keys/new", {"name": " "})
    assert nameless.status_code == 400


async def test_register_of_processing_comes_from_the_configuration(client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "admin")
    page = await client.get("/admin/register", params={"lang": "en"})
    assert page.status_code == 200
    assert "Loi n°2013-015" in page.text and "APDP" in page.text
    assert "Contact details erased 90 days after the item is closed" in page.text
    assert "Point focal sauvegarde" in page.text  # the real safeguarding partner
    response = await client.get("/admin/register", params={"format": "csv", "lang": "en"})
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0] == ["Processing", "Purpose", "Legal basis", "Categories of data", "Categories of people",
                       "Recipients", "Retention", "Security measures", "Transfers"]
    assert len(rows) >= 5
    by_name = {row[0]: row for row in rows[1:]}
    feedback = next(row for name, row in by_name.items() if name.startswith("Community feedback"))
    assert "13 active sites" in feedback[1]
    assert "Argon2id" in feedback[7]
    assert "Unofficial payment" in feedback[3] or "Paiement non officiel" in feedback[3]


async def test_admin_log_filters_by_user_and_date(client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "admin")
    assert (await post(client, "/admin/holidays/new", {"day": "2032-01-01", "name": "Nouvel an"})).status_code == 303
    page = await client.get("/admin/log", params={"lang": "en"})
    assert "holiday.create" in page.text and "holiday:2032-01-01" in page.text
    assert "holiday.create" in (await client.get("/admin/log", params={"user": "admin"})).text
    assert "holiday.create" not in (await client.get("/admin/log", params={"user": "nobody"})).text
    assert "holiday.create" not in (await client.get("/admin/log", params={"since": "2999-01-01"})).text
    bad = await client.get("/admin/log", params={"since": "yesterday", "lang": "en"})
    assert bad.status_code == 400 and "Enter a date as YYYY-MM-DD." in bad.text


async def test_csv_import_through_the_page(client: httpx.AsyncClient, db: Database) -> None:
    await login(client, "admin")
    good = "code,name,kind,area,latitude,longitude\nBKO-C5-KAL,CSCOM de Kalaban,cscom,ML-BKO-C5,12.57,-7.98\n"
    response = await post(client, "/admin/import", {"kind": "sites"},
                          files={"file": ("sites.csv", good.encode(), "text/csv")}, page="/admin/?lang=en")
    assert response.status_code == 200 and "1 row imported." in response.text
    async with db.read() as s:
        site = await s.scalar(select(Site).where(Site.code == "BKO-C5-KAL"))
    assert site is not None and site.latitude == pytest.approx(12.57)
    assert (await log_actions(db))[-2:] == ["site.create", "import"]

    bad = await post(client, "/admin/import", {"kind": "sites"},
                     files={"file": ("x.csv", b"\xff\xfe\x00garbage", "text/csv")})
    assert bad.status_code == 400 and "not UTF-8" in bad.text
    unknown_area = "code,name,kind,area\nBKO-C5-ZZZ,Nulle part,cscom,ML-XX\n"
    refused = await post(client, "/admin/import", {"kind": "sites"},
                         files={"file": ("sites.csv", unknown_area.encode(), "text/csv")})
    assert refused.status_code == 400
    assert "Nothing was imported." in refused.text and "line 2" in refused.text
    async with db.read() as s:
        assert await s.scalar(select(Site).where(Site.code == "BKO-C5-ZZZ")) is None
    nonsense = await post(client, "/admin/import", {"kind": "sites"}, files={"file": ("x.csv", b"foo,bar\n1,2\n", "text/csv")})
    assert nonsense.status_code == 400
    no_kind = await post(client, "/admin/import", {"kind": "items"}, files={"file": ("x.csv", good.encode(), "text/csv")})
    assert no_kind.status_code == 400
