//! Request routing: which operation a method and raw path address, and the decoded model id.
//!
//! The model id travels percent-encoded in one path segment (`:` as `%3A`, an ARN's `/` as
//! `%2F`), so routing works on the raw path and decodes only the id segment.

use crate::record::Operation;
use percent_encoding::percent_decode_str;

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) operation: Operation,
    /// The decoded model id; `None` when the segment did not decode to UTF-8.
    pub(crate) model_id: Option<String>,
    /// The id segment as received, for messages and logs when it did not decode.
    pub(crate) raw_model_id: String,
}

/// Route a request; `None` for anything that is not a Converse, ConverseStream or
/// CountTokens call.
pub(crate) fn route(method: &http::Method, path: &str) -> Option<Route> {
    if method != http::Method::POST {
        return None;
    }
    let rest = path.strip_prefix("/model/")?;
    let (raw, operation) = if let Some(raw) = rest.strip_suffix("/converse-stream") {
        (raw, Operation::ConverseStream)
    } else if let Some(raw) = rest.strip_suffix("/converse") {
        (raw, Operation::Converse)
    } else if let Some(raw) = rest.strip_suffix("/count-tokens") {
        (raw, Operation::CountTokens)
    } else {
        return None;
    };
    if raw.is_empty() || raw.contains('/') {
        return None;
    }
    let model_id = percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned());
    Some(Route {
        operation,
        model_id,
        raw_model_id: raw.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn routes_converse_and_decodes_the_model_id() {
        let r = route(
            &Method::POST,
            "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse",
        )
        .unwrap();
        assert_eq!(r.operation, Operation::Converse);
        assert_eq!(
            r.model_id.as_deref(),
            Some("us.anthropic.claude-3-7-sonnet-20250219-v1:0")
        );
        let r = route(
            &Method::POST,
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fx/converse-stream",
        )
        .unwrap();
        assert_eq!(r.operation, Operation::ConverseStream);
        assert_eq!(
            r.model_id.as_deref(),
            Some("arn:aws:bedrock:us-east-1:123456789012:inference-profile/x")
        );
    }

    #[test]
    fn rejects_other_routes() {
        assert!(route(&Method::GET, "/model/a.b/converse").is_none());
        assert!(route(&Method::POST, "/model/a.b/invoke").is_none());
        assert!(route(&Method::POST, "/model//converse").is_none());
        assert!(route(&Method::POST, "/model/a/b/converse").is_none());
        assert!(route(&Method::POST, "/").is_none());
        assert!(route(&Method::POST, "/models/a.b/converse").is_none());
    }

    #[test]
    fn undecodable_ids_are_routed_but_flagged() {
        let r = route(&Method::POST, "/model/%FF%FE/converse").unwrap();
        assert_eq!(r.model_id, None);
        assert_eq!(r.raw_model_id, "%FF%FE");
    }
}
