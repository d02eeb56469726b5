//! `POST /api/v1/credentials`: upload credentials for the candidate's own
//! prefix, rate limited per candidate. The issuing itself (STS or minted
//! keys, caching, the policy) is [`crate::credentials`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use invigil_schemas::api::CredentialsResponse;

use crate::error::ApiError;
use crate::state::AppState;

pub async fn post_credentials(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<CredentialsResponse>, ApiError> {
    let claims = state.verifier.candidate(&headers)?;
    state.rate_limit(&format!("{}/{}", claims.test_id, claims.sub))?;
    state.credentials.issue(&claims).await.map(Json)
}
