//! The bearer token that mutating endpoints require.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::error;
use crate::tree::ActorTree;

/// Compares in time independent of where the strings first differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `None` when the request carries the configured bearer token, else the refusal.
pub(super) fn authorize(tree: &ActorTree, req: &HttpRequest) -> Option<HttpResponse> {
    use actix_web::http::StatusCode;
    let config = tree.config.get();
    let Some(secret) = &config.deployment.admin_token else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "mutating endpoints are disabled: no admin_token is configured",
        ));
    };
    let Ok(token) = secret.resolve() else {
        return Some(error(
            StatusCode::FORBIDDEN,
            "mutating endpoints are disabled: the admin token is not available",
        ));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 9110).
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match given {
        Some(given) if !token.is_empty() && same(given.as_bytes(), token.as_bytes()) => None,
        _ => Some(
            HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .json(json!({ "error": "a valid bearer token is required" })),
        ),
    }
}
