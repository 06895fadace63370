"""Administration (DESIGN §5, issue 6 §8): configuration of the platform, never item content.

Every route here is for admins only (``@staff_only("admin")``); every change is written to the
admin log in the same transaction.
"""

from __future__ import annotations

from starlette.routing import Route

from feedback.web.admin import kiosks, pages
from feedback.web.admin.crud import entity_routes
from feedback.web.admin.entities import ENTITIES

routes = [
    Route("/", pages.index, name="index"),
    *[route for entity in ENTITIES for route in entity_routes(entity)],
    Route("/sites/{site_id:int}/poster", pages.site_poster, name="site_poster"),
    Route("/users/{user_id:int}/reset", pages.user_reset, name="user_reset", methods=["POST"]),
    Route("/users/{user_id:int}/active", pages.user_active, name="user_active", methods=["POST"]),
    Route("/voice-prompts", pages.voice_prompts, name="voice_prompts"),
    Route("/voice-prompts/{screen}/{locale}", pages.voice_prompt_audio, name="voice_prompt_audio"),
    Route("/voice-prompts/{screen}/{locale}/upload", pages.voice_prompt_upload, name="voice_prompt_upload",
          methods=["POST"]),
    Route("/voice-prompts/{screen}/{locale}/delete", pages.voice_prompt_delete, name="voice_prompt_delete",
          methods=["POST"]),
    Route("/api-keys", pages.api_keys, name="api_keys"),
    Route("/api-keys/new", pages.api_key_new, name="api_key_new", methods=["POST"]),
    Route("/api-keys/{key_id:int}/revoke", pages.api_key_revoke, name="api_key_revoke", methods=["POST"]),
    Route("/import", pages.csv_import, name="import", methods=["GET", "POST"]),
    Route("/register", pages.register, name="register"),
    Route("/log", pages.admin_log, name="log"),
    Route("/kiosks", kiosks.kiosks, name="kiosks"),
]
