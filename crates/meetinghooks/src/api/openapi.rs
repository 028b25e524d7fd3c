//! `GET /openapi.json`: the OpenAPI document of the whole API, generated from the handlers.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    api_keys, docs, endpoints, events, health, messages, rooms, sessions, signals, sources,
    videosdk,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "meetinghooks",
        version = env!("CARGO_PKG_VERSION"),
        description = "Meeting signals in; sessions and signed, ordered webhooks out.\n\n\
            **Authentication.** Every route under `/v1` and `/v2` takes a project's API key as \
            `Authorization: Bearer <api key>` (under `/v2`, the bare key is accepted too, as VideoSDK \
            clients send it) and sees only that project's data; a missing or \
            unknown key gets a 401. Keys come from `bootstrap_api_key` in the configuration, \
            from `meetinghooks project create NAME` or from `POST /v1/api-keys`. \
            `/healthz`, `/readyz`, `/openapi.json` and `/docs` need no key (this document is \
            public by choice), nor do the LiveKit receivers (`/v1/sources/livekit`, \
            `/v1/sources/{id}/livekit`), which take LiveKit's JWT. Prometheus metrics are served \
            on their own address (`metrics_listen`), not here.\n\n\
            **Errors** are `{\"error\":{\"code\",\"message\"}}` with a 4xx or 5xx status.",
    ),
    paths(
        health::healthz,
        health::readyz,
        document,
        docs::page,
        signals::ingest,
        events::list,
        rooms::create,
        rooms::get,
        rooms::list,
        rooms::deactivate,
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
        videosdk::rotate,
        videosdk::public_key,
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
    modifiers(&BearerAuth, &CommonAnswers),
    tags(
        (name = "signals", description = "Ingest meeting signals"),
        (name = "events", description = "The durable event log"),
        (name = "rooms", description = "Rooms and their own webhooks"),
        (name = "sessions", description = "Meeting sessions"),
        (name = "endpoints", description = "Webhook endpoints and signing secrets"),
        (name = "messages", description = "Delivery state, attempts and resends"),
        (name = "api-keys", description = "The project's API keys: list, create, revoke"),
        (name = "sources", description = "Media servers posting their own webhooks (LiveKit)"),
        (name = "health", description = "Liveness, readiness and this reference"),
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

/// Answers every operation of a kind may give, added here once: 408 past
/// `api_request_timeout`; 415 for a body without `Content-Type: application/json`; 429 past
/// the key's rate limit.
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ];
            for operation in operations.into_iter().flatten() {
                let answers = &mut operation.responses.responses;
                if operation.security.is_some() {
                    answers.insert(
                        "408".into(),
                        error("The request took longer than api_request_timeout").into(),
                    );
                    answers.insert(
                        "429".into(),
                        error("Past this API key's rate limit; see Retry-After").into(),
                    );
                }
                let takes_json = operation
                    .request_body
                    .as_ref()
                    .is_some_and(|body| match body {
                        utoipa::openapi::RefOr::T(body) => {
                            body.content.contains_key("application/json")
                        }
                        utoipa::openapi::RefOr::Ref(_) => false,
                    });
                if takes_json {
                    answers.insert(
                        "415".into(),
                        error("The body is not sent as application/json").into(),
                    );
                }
            }
        }
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
