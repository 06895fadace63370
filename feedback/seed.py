"""Seed data: the taxonomy (always), the Bamako demo (on first start), and generated items.

``ensure_taxonomy`` runs with every migration; ``seed_demo`` adds the demo organisations,
users and a few hundred items that go through the real domain functions, so every page
shows something real; ``generate_items`` bulk-loads N more items fast for benchmarks.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from feedback.domain import intake, stats, workflow
from feedback.domain.access import Actor, monitor_sites
from feedback.models import (
    Area,
    Event,
    FeedbackItem,
    Holiday,
    Kiosk,
    Partner,
    RoutingRule,
    Site,
    Topic,
    TopicCode,
    User,
    UserSite,
    utcnow,
)
from feedback.passwords import hash_password
from feedback.taxonomy_seed import FIXED_HOLIDAYS, TOPICS
from feedback.text import fold

DEMO_PASSWORD = "sauti-demo-2026"  # noqa: S105 (the demo's published password, README)

COMMUNES = [
    ("C1", "Commune I"), ("C2", "Commune II"), ("C3", "Commune III"),
    ("C4", "Commune IV"), ("C5", "Commune V"), ("C6", "Commune VI"),
]
# code, name, commune, kind, lat, lon
SITES = [
    ("BKO-C1-BAN", "CSCOM de Banconi", "C1", "cscom", 12.6705, -7.9895),
    ("BKO-C1-BOU", "CSCOM de Boulkassoumbougou", "C1", "cscom", 12.6820, -7.9660),
    ("BKO-C2-BAG", "CSCOM de Bagadadji", "C2", "cscom", 12.6480, -7.9930),
    ("BKO-C2-HIP", "CSCOM de l'Hippodrome", "C2", "cscom", 12.6560, -7.9860),
    ("BKO-C3-DAR", "CSCOM de Darsalam", "C3", "cscom", 12.6440, -8.0110),
    ("BKO-C4-LAF", "CSCOM de Lafiabougou", "C4", "cscom", 12.6430, -8.0400),
    ("BKO-C4-SEB", "CSCOM de Sébénikoro", "C4", "cscom", 12.6340, -8.0720),
    ("BKO-C4-REF", "CSRef de la Commune IV", "C4", "csref", 12.6390, -8.0300),
    ("BKO-C5-DAO", "CSCOM de Daoudabougou", "C5", "cscom", 12.6010, -7.9820),
    ("BKO-C5-SAB", "CSCOM de Sabalibougou", "C5", "cscom", 12.5890, -7.9970),
    ("BKO-C6-MAG", "CSCOM de Magnambougou", "C6", "cscom", 12.6010, -7.9440),
    ("BKO-C6-NIA", "CSCOM de Niamakoro", "C6", "cscom", 12.5840, -7.9510),
    ("BKO-C6-SOG", "CSCOM de Sogoniko", "C6", "cscom", 12.6000, -7.9660),
]

SAMPLE_TEXTS = {
    "fr": [
        "J'ai attendu depuis 7 heures et la sage-femme n'est arrivée qu'à 11 heures.",
        "On m'a demandé de payer 2000 francs en plus du ticket sans reçu.",
        "Les latrines des femmes sont fermées depuis deux semaines.",
        "Merci à la sage-femme, elle a été très patiente pendant mon accouchement.",
        "Il n'y avait plus de vaccin contre la rougeole pour mon bébé.",
        "Pourquoi le centre ferme à 16 heures le samedi ?",
        "Le relais n'est pas passé dans notre quartier depuis trois mois.",
        "L'ambulance pour aller au CSRef coûte trop cher pour nous.",
        "Il faudrait un coin ombragé pour les mères qui attendent avec les enfants.",
        "Le médecin a parlé fort de ma maladie devant tout le monde.",
        "Il n'y a pas d'eau au robinet de la maternité.",
        "Quand est la prochaine campagne de vaccination ?",
    ],
    "bm": [
        "Ne ye makɔnɔni kɛ kabini sɔgɔma waati 7, dɔgɔtɔrɔmuso nana waati 11 dɔrɔn.",
        "U ye wari wɛrɛ ɲini n fɛ, sɛbɛn tɛ min na.",
        "Musow ka ɲɛgɛnw datugulen don kabini dɔgɔkun fila.",
        "Barika dɔgɔtɔrɔmuso ye, a ye muɲu kosɛbɛ n ka jiginni na.",
        "Bolocilan tun tɛ yen n den ye.",
        "Mun na dɔgɔtɔrɔso bɛ datugu sibiri waati 16 la?",
        "Rela ma na an ka kin kɔnɔ kabini kalo saba.",
        "Anbilansi musaka ka gɛlɛn an ma.",
        "Ji tɛ jiginniso robinɛ la.",
        "Bolocili nataw bɛ kɛ tuma jumɛn?",
    ],
    "en": [
        "We waited four hours and nobody explained why.",
        "The nurse was very kind to my daughter, thank you.",
        "There were no malaria tests at the laboratory this week.",
        "Please put up the prices of consultations on the wall.",
        "The lights in the delivery room do not work at night.",
    ],
}
RESPONSES = [
    "Nous avons affiché les tarifs officiels à l'entrée et rappelé la règle au personnel.",
    "Le stock de vaccins a été reconstitué le lundi suivant.",
    "Les latrines ont été réparées et un agent d'entretien passe chaque jour.",
    "Une permanence de sage-femme est organisée dès 7 h 30.",
    "Le comité de gestion a rencontré l'équipe et un nouveau planning est affiché.",
]
# Public summaries and answers that belong together, per topic, for the demo's published items.
STORIES: dict[str, list[tuple[str, str]]] = {
    "waiting": [("Une mère signale une longue attente le matin à la maternité.",
                 "Une permanence de sage-femme est organisée dès 7 h 30.")],
    "medicines": [("Un usager signale une rupture de vaccins pour les enfants.",
                   "Le stock de vaccins a été reconstitué le lundi suivant.")],
    "hygiene": [("Une usagère signale des latrines fermées.",
                 "Les latrines ont été réparées et un agent d'entretien passe chaque jour."),
                ("Un usager signale qu'il n'y a pas d'eau au robinet de la maternité.",
                 "La pompe a été réparée ; un réservoir de secours a été installé.")],
    "cost": [("Un usager demande l'affichage des tarifs.",
              "Nous avons affiché les tarifs officiels à l'entrée et rappelé la règle au personnel.")],
    "welcome": [("Une mère signale qu'on a parlé de sa maladie devant d'autres patients.",
                 "L'équipe a été réunie sur la confidentialité ; les consultations se font porte fermée.")],
    "mch_care": [("Une mère remercie l'équipe de la maternité.",
                  "Merci ! Vos mots ont été lus à toute l'équipe de la maternité.")],
    "chw": [("Des habitants signalent que le relais ne passe plus dans leur quartier.",
             "Un nouveau relais a été formé et passe chaque semaine.")],
    "referral": [("Des familles trouvent le transport vers le CSRef trop cher.",
                  "L'ASACO a négocié un tarif fixe avec deux taxis pour les urgences.")],
    "governance": [("Un usager demande à connaître les comptes de l'ASACO.",
                    "Les comptes de l'année ont été présentés en assemblée générale et affichés.")],
}
SUMMARIES = [
    "Une mère signale une longue attente le matin à la maternité.",
    "Un usager signale une rupture de vaccins pour les enfants.",
    "Une usagère signale des latrines fermées.",
    "Un usager demande l'affichage des tarifs.",
    "Une mère remercie l'équipe de la maternité.",
]


async def ensure_taxonomy(session: AsyncSession) -> int:
    """Create the seed topics and codes that do not exist yet; returns how many were added."""
    existing = set((await session.scalars(select(Topic.slug))).all())
    added = 0
    for position, (slug, icon, sensitivity, labels, topic_codes) in enumerate(TOPICS):
        if slug in existing:
            continue
        topic = Topic(slug=slug, icon=icon, sensitivity=sensitivity, position=position,
                      label_fr=labels[0], label_bm=labels[1], label_en=labels[2])
        session.add(topic)
        await session.flush()
        for code_slug, code_sensitivity, code_labels in topic_codes:
            session.add(TopicCode(topic_id=topic.id, slug=code_slug, sensitivity=code_sensitivity,
                                  label_fr=code_labels[0], label_bm=code_labels[1], label_en=code_labels[2]))
        added += 1
    return added


@dataclass(frozen=True)
class DemoAccount:
    login: str
    role: str
    description: str


async def is_seeded(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(Partner)))


async def seed_places_and_partners(session: AsyncSession, today: date) -> list[DemoAccount]:
    """Areas, sites, partners and their chains, routing rules, holidays, users and kiosks."""
    await ensure_taxonomy(session)
    region = Area(code="ML-BKO", name="District de Bamako", level="region")
    session.add(region)
    await session.flush()
    cercle = Area(code="ML-BKO-D", name="Bamako", level="cercle", parent_id=region.id)
    session.add(cercle)
    await session.flush()
    communes = {}
    for code, name in COMMUNES:
        area = Area(code=f"ML-BKO-{code}", name=name, level="commune", parent_id=cercle.id)
        session.add(area)
        communes[code] = area
    await session.flush()

    ngo = Partner(slug="ong-sante-mere-enfant", name="ONG Santé Mère-Enfant", kind="ngo",
                  is_default=True, email="suivi@ong.invalid")
    safeguarding = Partner(slug="sauvegarde", name="Point focal sauvegarde", kind="safeguarding",
                           is_safeguarding=True, email="sauvegarde@ong.invalid")
    chw = Partner(slug="programme-asc", name="Programme des agents de santé communautaire",
                  kind="chw_programme", email="asc@ong.invalid")
    session.add_all([ngo, safeguarding, chw])
    await session.flush()
    chw.escalation_partner_id = ngo.id
    districts = {}
    for code, name in COMMUNES:
        district = Partner(slug=f"district-{code.lower()}", name=f"Équipe cadre du district — {name}",
                           kind="district", escalation_partner_id=ngo.id)
        session.add(district)
        districts[code] = district
    await session.flush()

    topics = {t.slug: t for t in (await session.scalars(select(Topic))).all()}
    sites: dict[str, Site] = {}
    for code, name, commune, kind, lat, lon in SITES:
        site = Site(code=code, name=name, kind=kind, area_id=communes[commune].id,
                    latitude=lat, longitude=lon, languages="bm,fr", dhis2_org_unit=f"ML{code[-3:]}{commune}")
        session.add(site)
        sites[code] = site
    await session.flush()
    for code, name, commune, _kind, _lat, _lon in SITES:
        short = code.rsplit("-", 1)[1].lower()
        site = sites[code]
        place = name.split(" de ", 1)[-1]
        asaco = Partner(slug=f"asaco-{short}", name=f"ASACO — {place}", kind="asaco",
                        escalation_partner_id=districts[commune].id, site_id=site.id)
        session.add(asaco)
        await session.flush()
        management = Partner(slug=f"dtc-{short}", name=f"Direction technique — {name}",
                             kind="csref" if site.kind == "csref" else "cscom",
                             escalation_partner_id=asaco.id, site_id=site.id)
        session.add(management)
        await session.flush()
        session.add_all([
            RoutingRule(site_id=site.id, topic_id=None, partner_id=management.id),
            RoutingRule(site_id=site.id, topic_id=topics["governance"].id, partner_id=asaco.id),
            RoutingRule(site_id=site.id, topic_id=topics["referral"].id, partner_id=districts[commune].id),
        ])
    session.add_all([
        RoutingRule(site_id=None, topic_id=topics["chw"].id, partner_id=chw.id),
        RoutingRule(site_id=None, topic_id=topics["kiosk"].id, partner_id=ngo.id),
    ])
    for year in (today.year - 1, today.year, today.year + 1):
        for (month, day), name in FIXED_HOLIDAYS:
            session.add(Holiday(day=date(year, month, day), name=name))
    await session.flush()

    by_slug = {p.slug: p for p in (await session.scalars(select(Partner))).all()}
    password = hash_password(DEMO_PASSWORD)
    accounts = [
        ("admin", "Aminata Traoré", "admin", None, "fr", "admin@ong.invalid"),
        ("moderatrice", "Fatoumata Diallo", "moderator", None, "fr", None),
        ("sauvegarde", "Mariam Coulibaly", "safeguarding_officer", "sauvegarde", "fr", "sauvegarde@ong.invalid"),
        ("agent.laf", "Oumar Keïta", "partner_agent", "dtc-laf", "bm", "agent.laf@ong.invalid"),
        ("chef.laf", "Awa Sidibé", "partner_manager", "dtc-laf", "fr", "chef.laf@ong.invalid"),
        ("asaco.laf", "Bakary Diarra", "partner_manager", "asaco-laf", "bm", None),
        ("district.c4", "Dr Kadiatou Sangaré", "partner_manager", "district-c4", "fr", "district.c4@ong.invalid"),
        ("agent.bag", "Seydou Konaté", "partner_agent", "dtc-bag", "fr", None),
        ("comite.laf", "Djénéba Dembélé", "community_monitor", None, "bm", None),
    ]
    result = []
    for login, name, role, partner_slug, locale, email in accounts:
        user = User(login=login, name=name, role=role, locale=locale, email=email, password_hash=password,
                    partner_id=by_slug[partner_slug].id if partner_slug else None)
        session.add(user)
        await session.flush()
        if role == "community_monitor":
            session.add(UserSite(user_id=user.id, site_id=sites["BKO-C4-LAF"].id))
        result.append(DemoAccount(login, role, partner_slug or ""))
    return result


def _pick_text(rng: random.Random) -> tuple[str, str]:
    language = rng.choices(("bm", "fr", "en"), weights=(5, 4, 1))[0]
    return rng.choice(SAMPLE_TEXTS[language]), language


async def seed_demo_items(
    write: async_sessionmaker[AsyncSession], count: int, *, base_url: str, weekend: tuple[int, ...],
    seed: int = 20261125,
) -> None:
    """A few hundred items through the real domain functions, spread over the last year."""
    rng = random.Random(seed)
    now = utcnow()
    async with write() as session:
        sites = (await session.scalars(select(Site.code))).all()
        topic_slugs = [t for t in (await session.scalars(select(Topic.slug))).all()]
        monitor = await session.scalar(select(User).where(User.role == "community_monitor"))
    for n in range(count):
        text, language = _pick_text(rng)
        received = now - timedelta(days=rng.uniform(0, 365) ** 1.0, hours=rng.uniform(0, 8))
        topic = rng.choice(topic_slugs)
        if topic == "protection" and rng.random() < 0.6:
            topic = "welcome"
        feedback_type = rng.choices(
            ("complaint", "suggestion", "compliment", "question", "help_request"), weights=(6, 2, 2, 2, 1)
        )[0]
        sub = intake.Submission(
            site_code=rng.choice(sites), channel=rng.choice(("kiosk", "kiosk", "kiosk", "web", "sms")),
            feedback_type=feedback_type, topic_slug=topic, text=text, language=language,
            publish_consent=rng.random() < 0.8, gender=rng.choice(("female", "female", "male", "undisclosed", None)),
            age_band=rng.choice(("18_24", "25_34", "35_49", "50_plus", None)),
            idempotency_key=f"demo-{seed}-{n}",
        )
        async with write() as session, session.begin():
            item = await intake.store(session, sub, base_url=base_url, weekend=weekend, now=received)
            await _advance(session, item, rng, received, now, monitor, base_url, topic)


GENERIC_STORY = ("Un usager propose une amélioration de l'accueil.",
                 "Merci : la proposition a été discutée en réunion d'équipe et mise en place.")


async def _advance(session: AsyncSession, item: FeedbackItem, rng: random.Random, received: datetime,
                   now: datetime, monitor: User | None, base_url: str, topic_slug: str) -> None:
    """Move a demo item through a random but plausible part of its lifecycle."""
    story = rng.choice(STORIES.get(topic_slug) or [GENERIC_STORY])
    staff = await session.scalar(
        select(User).where(User.partner_id == item.partner_id, User.active).limit(1)
    )
    if item.sensitivity in ("S2", "S3"):
        staff = await session.scalar(select(User).where(User.role == "safeguarding_officer"))
    actor = Actor.for_user(staff) if staff else Actor("user", "admin", None, None, "admin")
    age_days = (now - received).days
    stage = rng.random()
    t = received
    steps: list[tuple[str, dict[str, object]]] = []
    if age_days < 1 or stage < 0.15:
        steps = []
    elif stage < 0.30:
        steps = [("acknowledge", {})]
    elif stage < 0.42:
        steps = [("acknowledge", {}), ("start", {})]
    elif stage < 0.48:
        steps = [("not_actionable", {"public_text": "Cette demande ne relève pas du centre de santé ; nous l'avons expliqué au comité."})]
    elif stage < 0.52:
        steps = [("acknowledge", {}), ("refer", {"note": "Relève du district."})]
    else:
        steps = [("acknowledge", {}), ("start", {}), ("resolve", {"public_text": story[1]})]
    for action, kwargs in steps:
        t = t + timedelta(hours=rng.uniform(2, 24 * (6 if action != "acknowledge" else 3)))
        if t > now:
            return
        if action == "refer":
            target = await session.scalar(
                select(Partner.id).where(Partner.kind == "district").order_by(Partner.id).limit(1)
            )
            kwargs = {**kwargs, "to_partner_id": target}
        try:
            await workflow.apply(session, item, action, actor, now=t, base_url=base_url, **kwargs)  # type: ignore[arg-type]
        except workflow.TransitionRefused:
            return
    if item.status == "resolved" and age_days > 3:
        t = t + timedelta(days=rng.uniform(1, 10))
        verdict = rng.random()
        if t < now and verdict < 0.45:
            await workflow.apply(session, item, "confirm", Actor("submitter", label="submitter"), now=t, base_url=base_url)
            if rng.random() < 0.8:
                before = stats.snapshot(item)
                item.satisfaction = rng.choice((3, 3, 2, 1))
                session.add(Event(item_id=item.id, kind="rated", created_at=t, actor_label="submitter", public=True,
                                  data={"satisfaction": item.satisfaction}))
                await stats.record(session, before, item)
        elif t < now and verdict < 0.55:
            await workflow.apply(session, item, "dispute", Actor("submitter", label="submitter"), now=t, base_url=base_url)
        elif t < now and verdict < 0.65 and monitor is not None:
            # A community monitor verifies only items of the sites they watch.
            monitor_actor = Actor.for_user(monitor, await monitor_sites(session, monitor.id))
            if "confirm" in workflow.allowed_actions(item, monitor_actor):
                await workflow.apply(session, item, "confirm", monitor_actor, now=t, base_url=base_url)
    if item.sensitivity == "S1" and item.publish_consent and item.text and rng.random() < 0.7 and item.status in ("resolved", "closed", "in_progress"):
        before = stats.snapshot(item)
        item.sensitivity = "S0"
        item.public_summary = story[0]
        item.moderated_at = t
        item.published = True
        item.published_at = t
        item.search_text = fold(" ".join(p for p in (item.text, item.public_summary, item.public_response) if p))
        session.add(Event(item_id=item.id, kind="published", created_at=t, actor_label="moderatrice", public=True))
        await stats.record(session, before, item)


async def seed_kiosks(session: AsyncSession, now: datetime) -> None:
    """One registered kiosk per CSCOM; one has been silent for three days (to show the flag)."""
    import hashlib
    import secrets

    sites = (await session.scalars(select(Site).where(Site.kind == "cscom"))).all()
    for index, site in enumerate(sites):
        silent = site.code == "BKO-C6-NIA"
        session.add(Kiosk(site_id=site.id, label=f"Borne {site.code}",
                          # A random token nobody holds: a demo kiosk cannot authenticate to the kiosk API.
                          token_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
                          last_contact_at=now - (timedelta(days=3) if silent else timedelta(minutes=5 + index)),
                          app_version="demo"))


ProgressFn = Callable[[int, int], None]


async def generate_items(
    write: async_sessionmaker[AsyncSession], count: int, *, progress: ProgressFn | None = None,
    seed: int | None = None,
) -> int:
    """Bulk-load ``count`` realistic items with their events and aggregates (see ``feedback.bulk``)."""
    from feedback import bulk

    return await bulk.generate_items(write, count, progress=progress, seed=seed)
