"""Webhooks: subscribe a URL to a project's sweep events, list, delete, and see every delivery attempt
(orchestrator/webhooks.py sends them; docs/operations.md, "Webhooks")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import ReaderDep, StoreDep, WriterDep
from api.errors import ERROR_RESPONSES, ApiError
from api.routes.common import MAX_ID
from orchestrator.webhooks import EVENT_TYPES, new_secret

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)

WebhookId = Annotated[int, Path(ge=1, le=MAX_ID, description="the webhook's id")]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="http(s) URL the events are POSTed to")
    events: list[str] = Field(
        default_factory=lambda: list(EVENT_TYPES),
        min_length=1,
        max_length=len(EVENT_TYPES),
        description=f"any of {list(EVENT_TYPES)} (default: all)",
    )
    project: str | None = Field(
        None, max_length=100, description="admin tokens only: the project (default: default)"
    )

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"url must be an http:// or https:// URL, got {url!r}")
        return url

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; choose from {list(EVENT_TYPES)}")
        return sorted(set(events), key=list(EVENT_TYPES).index)


class WebhookOut(BaseModel):
    id: int
    project: str
    url: str
    events: list[str]
    created_at: datetime
    deliveries: dict[str, int] = Field(default_factory=dict, description="deliveries per status")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret, shown once: verify X-Mutransfer-Signature with it")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event_id: int
    event_type: str
    status: str = Field(description="pending (retrying), delivered or failed (gave up)")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


@router.post("", status_code=201, response_model=WebhookCreated, summary="Subscribe a URL to sweep events")
def create_webhook(body: WebhookIn, store: StoreDep, principal: WriterDep) -> WebhookCreated:
    if principal.project is not None and body.project not in (None, principal.project):
        raise ApiError(403, f"this token belongs to project {principal.project!r}; omit project")
    project = principal.project or body.project or principal.project_for_new_sweeps
    project_id = store.ensure_project(project).id
    info = store.webhooks.add(project_id, project, body.url, secret := new_secret(), body.events)
    return WebhookCreated(**info.__dict__, secret=secret)


@router.get("", response_model=list[WebhookOut], summary="The project's webhooks")
def list_webhooks(store: StoreDep, principal: ReaderDep) -> list[WebhookOut]:
    hooks = store.webhooks.list(principal.project)
    counts = store.webhooks.counts([h.id for h in hooks])
    return [WebhookOut(**h.__dict__, deliveries=counts[h.id]) for h in hooks]


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook and its delivery log")
def delete_webhook(webhook_id: WebhookId, store: StoreDep, principal: WriterDep) -> Response:
    store.webhooks.delete(webhook_id, principal.project)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    summary="A webhook's deliveries, newest first",
)
def list_deliveries(
    webhook_id: WebhookId,
    store: StoreDep,
    principal: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    return [
        DeliveryOut.model_validate(d) for d in store.webhooks.deliveries(webhook_id, principal.project, limit)
    ]
