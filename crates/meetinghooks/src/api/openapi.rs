//! `GET /openapi.json`: the OpenAPI document of the whole API, generated from the handlers.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    api_keys, docs, endpoints, events, health, messages, rooms, sessions, signals, sources,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "meetinghooks",
        version = env!("CARGO_PKG_VERSION"),
        description = "Meeting signals in; sessions and signed, ordered webhooks out.\n\n\
            **Authentication.** Every route under `/v1` and `/v2` takes a project's API key as \
            `Authorization: Bearer <api key>` and sees only that project's data; a missing or \
            unknown key gets a 401. Keys come from `bootstrap_api_key` in the configuration, \
            from `meetinghooks project create NAME` or from `POST /v1/api-keys`. \
            `/healthz`, `/readyz`, `/openapi.json`, `/docs` and `/metrics` need no key, nor do \
            the LiveKit receivers (`/v1/sources/livekit`, `/v1/sources/{id}/livekit`), which \
            take LiveKit's JWT.\n\n\
            **Errors** are `{\"error\":{\"code\",\"message\"}}` with a 4xx or 5xx status.",
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        document,
        docs::page,
        signals::ingest,
        events::list,
        rooms::create,
        rooms::get,
        sessions::list,
        sessions::end,
        sessions::get,
        endpoints::create,
        endpoints::list,
        endpoints::get,
        endpoints::update,
        endpoints::delete,
        endpoints::secret,
        endpoints::rotate_secret,
        endpoints::send_test,
        endpoints::recover,
        endpoints::room_secret,
        endpoints::rotate_room_secret,
        messages::list,
        messages::get,
        messages::attempts,
        messages::resend,
        api_keys::list,
        api_keys::create,
        api_keys::revoke,
        sources::create,
        sources::list,
        sources::get,
        sources::delete,
        sources::livekit::receive,
        sources::livekit::receive_for_source,
    ),
    components(schemas(super::error::ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "signals", description = "Ingest meeting signals"),
        (name = "events", description = "The durable event log"),
        (name = "rooms", description = "Rooms and their own webhooks"),
        (name = "sessions", description = "Meeting sessions"),
        (name = "endpoints", description = "Webhook endpoints and signing secrets"),
        (name = "messages", description = "Delivery state, attempts and resends"),
        (name = "api-keys", description = "The project's API keys: list, create, revoke"),
        (name = "sources", description = "Media servers posting their own webhooks (LiveKit)"),
        (name = "health", description = "Liveness, readiness, metrics and this reference"),
    ),
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme that authenticated operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A project API key"))
                    .build(),
            ),
        );
    }
}

/// This OpenAPI document
///
/// Generated from the code, so it lists exactly the routes the server has; `/docs` renders it.
/// Needs no API key.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapiDocument", tag = "health",
    responses((status = 200, description = "This OpenAPI document", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
