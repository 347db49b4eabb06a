//! The bearer token that mutating endpoints require.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use serde_json::json;

use super::{error, State};
use crate::tree::ActorTree;

/// Middleware of every mutating endpoint: the token is checked before anything of the request's
/// body is read, so a caller without it learns nothing of what the endpoint expects.
pub(super) async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let refusal = match req.app_data::<State>() {
        Some(state) => authorize(state.get_ref(), req.headers()),
        None => Some(error(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "the admin server has no runtime",
        )),
    };
    match refusal {
        Some(refusal) => Ok(req.into_response(refusal).map_into_right_body()),
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}

/// Compares in time independent of where the strings first differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A request that asks to be told to send its body (`Expect: 100-continue`): one that does not
/// only read ([`super::reads`]: every other method needs the token) and does not carry the token is
/// refused there, before its body is sent; else it goes on. The refusal is its answer, and counted
/// as one on its connection ([`super::pipeline::Answers`]).
pub(super) async fn expect_token(
    state: State,
    req: actix_http::Request,
) -> Result<actix_http::Request, actix_http::Response<actix_web::body::BoxBody>> {
    match (
        super::reads(req.method()),
        authorize(state.get_ref(), &req.head().headers),
    ) {
        (false, Some(refusal)) => {
            if let Some(answers) = req.conn_data::<super::pipeline::Answers>() {
                answers.answered();
            }
            Err(refusal.into())
        }
        _ => Ok(req),
    }
}

/// `None` when the request carries the configured bearer token, else the refusal.
fn authorize(tree: &ActorTree, headers: &header::HeaderMap) -> Option<HttpResponse> {
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
    let given = headers
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
