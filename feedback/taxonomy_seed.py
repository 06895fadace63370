"""The seed taxonomy (DESIGN §3): topics with pictograms and labels in three languages.

Bamanankan labels are a first version for community translators to correct (admin → topics).
"""

from __future__ import annotations

# slug, icon, sensitivity, (fr, bm, en), codes: [(slug, sensitivity, (fr, bm, en))]
TOPICS: list[tuple[str, str, str, tuple[str, str, str], list[tuple[str, str, tuple[str, str, str]]]]] = [
    ("welcome", "welcome", "S0", ("Accueil et respect", "Bisimilali ni bonya", "Welcome & respect"), [
        ("rudeness", "S0", ("Impolitesse", "Mɔgɔ dɔgɔyali", "Rudeness")),
        ("discrimination", "S0", ("Discrimination", "Danfara kɛli mɔgɔw cɛ", "Discrimination")),
        ("privacy", "S0", ("Confidentialité", "Gundo marali", "Privacy")),
    ]),
    ("waiting", "waiting", "S0", ("Attente et horaires", "Makɔnɔni ni waati", "Waiting time & opening hours"), [
        ("long_wait", "S0", ("Attente trop longue", "Makɔnɔni janya", "Waiting too long")),
        ("staff_absence", "S0", ("Absence du personnel", "Baarakɛlaw tɛ yen", "Staff absent")),
        ("opening_hours", "S0", ("Horaires d'ouverture", "Dayɛlɛ waati", "Opening hours")),
    ]),
    ("cost", "cost", "S0", ("Coût et frais", "Sɔngɔ ni musaka", "Cost & fees"), [
        ("fees_unclear", "S0", ("Tarifs pas clairs", "Sɔngɔw ma jɛya", "Fees not clear")),
        ("too_expensive", "S0", ("Trop cher", "A ka gɛlɛn kojugu", "Too expensive")),
        ("unofficial_payment", "S2", ("Paiement non officiel", "Wari min tɛ sariya la", "Unofficial payment")),
    ]),
    ("medicines", "medicines", "S0", ("Médicaments et fournitures", "Furaw ni minɛnw", "Medicines & supplies"), [
        ("stock_out", "S0", ("Rupture de médicaments", "Furaw banna", "Medicines out of stock")),
        ("vaccines", "S0", ("Vaccins", "Bolocilanw", "Vaccines")),
        ("laboratory", "S0", ("Laboratoire", "Labowatuwari", "Laboratory")),
    ]),
    ("hygiene", "hygiene", "S0", ("Hygiène et bâtiment", "Saniya ni so", "Hygiene & building"), [
        ("water", "S0", ("Eau", "Ji", "Water")),
        ("latrines", "S0", ("Latrines", "Ɲɛgɛn", "Latrines")),
        ("power", "S0", ("Électricité", "Kuran", "Electricity")),
        ("cleanliness", "S0", ("Propreté", "Saniya", "Cleanliness")),
    ]),
    ("mch_care", "mch_care", "S0", ("Soins de la mère et de l'enfant", "Ba ni den ka furakɛli", "Maternal, newborn & child care"), [
        ("antenatal", "S0", ("Consultation prénatale", "Kɔnɔmaya lajɛ", "Antenatal care")),
        ("delivery", "S0", ("Accouchement", "Jiginni", "Delivery")),
        ("postnatal", "S0", ("Suivi après l'accouchement", "Jiginni kɔfɛ lajɛ", "Postnatal care")),
        ("vaccination", "S0", ("Vaccination des enfants", "Denmisɛnw ka bolocili", "Child vaccination")),
        ("family_planning", "S0", ("Planification familiale", "Denko ɲɛnabɔli", "Family planning")),
        ("nutrition", "S0", ("Nutrition", "Balo", "Nutrition")),
        ("sick_child", "S0", ("Enfant malade", "Den banabaato", "Sick child")),
    ]),
    ("chw", "chw", "S0", ("Agent de santé communautaire", "Dugu kɛnɛya baarakɛla", "Community health worker"), [
        ("home_visits", "S0", ("Visites à domicile", "So kɔnɔ lajɛw", "Home visits")),
        ("relais", "S0", ("Relais communautaires", "Relaw", "Community relays")),
    ]),
    ("referral", "referral", "S0", ("Référence et transport", "Ci ka taa CSRef ni taama", "Referral & transport"), [
        ("ambulance", "S0", ("Ambulance", "Anbilansi", "Ambulance")),
        ("transport_cost", "S0", ("Coût du transport", "Taama musaka", "Transport cost")),
        ("csref_reception", "S0", ("Accueil au CSRef", "CSRef ka bisimilali", "Reception at the CSRef")),
    ]),
    ("information", "information", "S0", ("Information sanitaire", "Kɛnɛya kunnafoniw", "Health information"), [
        ("health_information", "S0", ("Information sur la santé", "Kɛnɛya kunnafoni", "Health information")),
    ]),
    ("governance", "governance", "S0", ("Gouvernance de l'ASACO", "ASACO ka ɲɛmaaya", "ASACO governance"), [
        ("accounts", "S0", ("Comptes de l'ASACO", "ASACO ka jatew", "ASACO accounts")),
        ("meetings", "S0", ("Réunions et élections", "Lajɛw ni kalatalaw", "Meetings and elections")),
        ("misconduct", "S2", ("Faute du personnel", "Baarakɛla ka kojugu", "Staff misconduct")),
    ]),
    ("kiosk", "kiosk", "S0", ("Cette borne", "Nin masin yɛrɛ", "This kiosk"), [
        ("kiosk_problem", "S0", ("La borne ne marche pas bien", "Masin tɛ baara kɛ ka ɲɛ", "The kiosk does not work well")),
    ]),
    ("protection", "lock", "S3", ("Abus, exploitation ou menace", "Tɔɔrɔ, jatɔya walima bagabaga", "Abuse, exploitation or threat"), [
        ("sexual_exploitation", "S3", ("Exploitation ou abus sexuel", "Cɛ ni muso ko la tɔɔrɔ", "Sexual exploitation or abuse")),
        ("child_abuse", "S3", ("Maltraitance d'enfant", "Den tɔɔrɔli", "Child abuse")),
        ("gender_violence", "S3", ("Violence basée sur le genre", "Musow kan fariyakow", "Gender-based violence")),
        ("threat_to_life", "S3", ("Menace pour la vie", "Ni farati", "Threat to life")),
    ]),
    ("other", "other", "S0", ("Autre", "Fɛn wɛrɛ", "Other"), [
        ("other", "S0", ("Autre", "Fɛn wɛrɛ", "Other")),
    ]),
]

# Mali's fixed public holidays (the lunar ones are added each year by an admin).
FIXED_HOLIDAYS = [
    ((1, 1), "Jour de l'an"),
    ((1, 20), "Fête de l'Armée"),
    ((3, 26), "Journée des Martyrs"),
    ((5, 1), "Fête du Travail"),
    ((5, 25), "Journée de l'Afrique"),
    ((9, 22), "Fête de l'Indépendance"),
    ((12, 25), "Noël"),
]
