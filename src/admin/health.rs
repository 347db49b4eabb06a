//! The health endpoints and `/metrics`: what an orchestrator and Prometheus ask, answered by
//! `crate::endpoints` (which a host's own server can serve too).

use actix_web::{HttpRequest, HttpResponse};

use super::State;
use crate::endpoints::{self, accept, to_response, Endpoint};

pub(super) async fn live(state: State) -> HttpResponse {
    serve(state, Endpoint::Live).await
}

pub(super) async fn ready(state: State) -> HttpResponse {
    serve(state, Endpoint::Ready).await
}

pub(super) async fn health_report(state: State) -> HttpResponse {
    serve(state, Endpoint::Health).await
}

/// Prometheus' text format, or OpenMetrics (with exemplars) when the scraper asks for it.
pub(super) async fn metrics(state: State, req: HttpRequest) -> HttpResponse {
    serve(state, Endpoint::Metrics.negotiate(accept(&req))).await
}

async fn serve(state: State, endpoint: Endpoint) -> HttpResponse {
    to_response(endpoints::answer_http(state.get_ref().clone(), endpoint).await)
}
