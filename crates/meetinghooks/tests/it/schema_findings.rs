//! Requests schemathesis generated from the document that the server refused or answered
//! wrongly, kept as tests: each is valid by the schema and must be taken.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// JSON Schema's `integer` includes `1985.0`: the auto-close duration takes it as 1985.
#[tokio::test]
async fn an_integer_written_with_a_fraction_of_zero_is_an_integer() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/v2/rooms",
            json!({"customRoomId": "whole", "autoCloseConfig": {"type": "session-ends", "duration": 1985.0}}),
        )
        .await;
    assert!(created.status().is_success(), "{}", created.status());
    let room: Value = created.json().await.unwrap();
    assert_eq!(room["autoCloseConfig"]["duration"], 1985, "{room}");
    // A real fraction is still refused.
    let fraction = app
        .post(
            "/v2/rooms",
            json!({"customRoomId": "frac", "autoCloseConfig": {"type": "session-ends", "duration": 1.5}}),
        )
        .await;
    assert_eq!(fraction.status(), StatusCode::BAD_REQUEST);
    app.shutdown().await;
}
