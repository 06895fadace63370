"""List, create, edit and delete pages for the configuration records, from one declaration.

Each ``Entity`` says which fields its form has, how to read its list and how to save through
the domain; the handlers made here all carry ``@staff_only("admin")``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from feedback.domain import configuration
from feedback.domain.access import Actor
from feedback.domain.admin import ConfigError
from feedback.i18n import N_, gettext
from feedback.web.admin.forms import FORM_ERROR, Field, display_values, parse
from feedback.web.staff import staff_only

Choices = dict[str, list[tuple[str, str]]]


async def no_choices(session: AsyncSession) -> Choices:
    return {}


@dataclass(frozen=True)
class Entity:
    key: str  # "site": routes admin:site_new, admin:site_edit (site_id), admin:site_delete
    plural: str  # "sites": the list route admin:sites and the path /admin/sites
    title: str  # msgids
    new_title: str
    edit_title: str
    model: type[Any]
    fields: tuple[Field, ...]
    rows: Callable[[AsyncSession], Awaitable[Any]]
    save: Callable[[AsyncSession, Actor, int | None, dict[str, Any]], Awaitable[Any]]
    list_template: str
    choices: Callable[[AsyncSession], Awaitable[Choices]] = no_choices
    values_of: Callable[[AsyncSession, Any], Awaitable[dict[str, Any]]] | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    delete_kind: str | None = None  # a key of configuration.DELETABLE
    after_create: str | None = None  # "edit": go to the new record's page instead of the list
    edit_extra: Callable[[AsyncSession, Any], Awaitable[dict[str, Any]]] | None = None

    @property
    def id_param(self) -> str:
        return f"{self.key}_id"


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    response = request.app.state.templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def url(request: Request, name: str, **params: Any) -> str:
    return str(request.url_for(f"admin:{name}", **params).path)


def actor(request: Request) -> Actor:
    return request.state.actor  # type: ignore[no-any-return]


def conflict_message() -> str:
    return gettext(N_("This conflicts with a record that was just saved by someone else. Check and try again."))


def list_view(entity: Entity) -> Callable[[Request], Awaitable[Response]]:
    @staff_only("admin")
    async def handler(request: Request) -> Response:
        async with request.app.state.db.read() as session:
            rows = await entity.rows(session)
        return render(request, entity.list_template, {
            "entity": entity, "rows": rows, "done": request.query_params.get("done"),
        })

    handler.__name__ = handler.__qualname__ = f"{entity.plural}_list"
    return handler


def form_view(entity: Entity, editing: bool) -> Callable[[Request], Awaitable[Response]]:
    @staff_only("admin")
    async def handler(request: Request) -> Response:
        obj_id: int | None = request.path_params.get(entity.id_param) if editing else None
        db = request.app.state.db
        async with db.read() as session:
            obj = await session.get(entity.model, obj_id) if obj_id is not None else None
            if editing and obj is None:
                raise HTTPException(404)
            choices = await entity.choices(session)
            extra = await entity.edit_extra(session, obj) if obj is not None and entity.edit_extra else {}
            if obj is not None:
                values = await entity.values_of(session, obj) if entity.values_of else display_values(obj, entity.fields)
            else:
                values = dict(entity.defaults)
                for f in entity.fields:  # a link may preselect a value, e.g. ?topic_id=3
                    if f.name in request.query_params:
                        values[f.name] = request.query_params[f.name]
        errors: dict[str, str] = {}
        if request.method == "POST":
            async with request.form() as form:
                posted, errors = parse(form, entity.fields, editing=editing)
            values = {**values, **posted}
            if not errors:
                to_save = {f.name: values.get(f.name) for f in entity.fields if not (editing and f.create_only)}
                try:
                    async with db.write() as session, session.begin():
                        saved = await entity.save(session, actor(request), obj_id, to_save)
                except ConfigError as exc:
                    errors[exc.field or FORM_ERROR] = exc.translated()
                except IntegrityError:
                    errors[FORM_ERROR] = conflict_message()
                else:
                    if not editing and entity.after_create == "edit":
                        target = url(request, f"{entity.key}_edit", **{entity.id_param: saved.id})
                        return RedirectResponse(target + "?done=created", status_code=303)
                    return RedirectResponse(url(request, entity.plural) + "?done=saved", status_code=303)
        action = (url(request, f"{entity.key}_edit", **{entity.id_param: obj_id}) if editing
                  else url(request, f"{entity.key}_new"))
        return render(request, "admin/form.html", {
            "entity": entity, "obj": obj, "editing": editing, "values": values, "errors": errors,
            "choices": choices, "action": action, "back": url(request, entity.plural),
            "delete_url": (url(request, f"{entity.key}_delete", **{entity.id_param: obj_id})
                           if editing and entity.delete_kind else None),
            "done": request.query_params.get("done"), **extra,
        }, status=400 if errors else 200)

    handler.__name__ = handler.__qualname__ = f"{entity.key}_{'edit' if editing else 'new'}"
    return handler


def delete_view(entity: Entity) -> Callable[[Request], Awaitable[Response]]:
    assert entity.delete_kind is not None

    @staff_only("admin")
    async def handler(request: Request) -> Response:
        obj_id = request.path_params[entity.id_param]
        try:
            async with request.app.state.db.write() as session, session.begin():
                await configuration.delete_record(session, actor(request), entity.delete_kind or "", obj_id)
        except ConfigError:
            raise HTTPException(404) from None
        return RedirectResponse(url(request, entity.plural) + "?done=deleted", status_code=303)

    handler.__name__ = handler.__qualname__ = f"{entity.key}_delete"
    return handler


def entity_routes(entity: Entity) -> Sequence[Route]:
    """The list, new, edit (and delete) routes of one entity."""
    item = f"/{entity.plural}/{{{entity.id_param}:int}}"
    routes = [
        Route(f"/{entity.plural}", list_view(entity), name=entity.plural),
        Route(f"/{entity.plural}/new", form_view(entity, False), name=f"{entity.key}_new", methods=["GET", "POST"]),
        Route(item, form_view(entity, True), name=f"{entity.key}_edit", methods=["GET", "POST"]),
    ]
    if entity.delete_kind:
        routes.append(Route(f"{item}/delete", delete_view(entity), name=f"{entity.key}_delete", methods=["POST"]))
    return routes
