//! Maps every way a Bedrock call can fail onto the backend's error categories
//! (design.md's table): modelled service errors, bare HTTP statuses, dispatch failures,
//! timeouts, and responses that arrived broken.

use std::error::Error as StdError;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use gamecode_backend::BackendError;

/// Classifies an error the service answered with, from its error code and HTTP status.
pub fn classify_service_error(
    code: Option<&str>,
    status: Option<u16>,
    message: String,
    retry_after: Option<Duration>,
) -> BackendError {
    let code_owned = code.map(str::to_string);
    match (code, status) {
        (
            Some("ThrottlingException" | "ModelNotReadyException" | "TooManyRequestsException"),
            _,
        )
        | (None, Some(429)) => BackendError::RateLimited {
            message,
            code: code_owned,
            retry_after,
        },
        (
            Some(
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignatureException"
                | "SignatureDoesNotMatch"
                | "ExpiredTokenException"
                | "ExpiredToken"
                | "InvalidClientTokenId"
                | "MissingAuthenticationTokenException"
                | "MissingAuthenticationToken",
            ),
            _,
        )
        | (None, Some(401 | 403)) => BackendError::Authentication {
            message,
            code: code_owned,
        },
        (
            Some(
                "ValidationException"
                | "ResourceNotFoundException"
                | "SerializationException"
                | "UnknownOperationException",
            ),
            _,
        ) => BackendError::Validation {
            message,
            code: code_owned,
        },
        (
            Some(
                "ServiceUnavailableException"
                | "InternalServerException"
                | "InternalFailure"
                | "ModelTimeoutException"
                | "ModelErrorException"
                | "ModelStreamErrorException",
            ),
            _,
        ) => BackendError::Provider {
            message,
            code: code_owned,
            status,
            retry_after,
        },
        // An error code we do not know: the status decides.
        (_, Some(429)) => BackendError::RateLimited {
            message,
            code: code_owned,
            retry_after,
        },
        (_, Some(401 | 403)) => BackendError::Authentication {
            message,
            code: code_owned,
        },
        (_, Some(s)) if (400..500).contains(&s) && s != 408 => BackendError::Validation {
            message,
            code: code_owned,
        },
        (_, status) => BackendError::Provider {
            message,
            code: code_owned,
            status,
            retry_after,
        },
    }
}

/// Parses a `Retry-After` header given in seconds (the HTTP-date form is not used by AWS).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

fn retry_after_of(response: &HttpResponse) -> Option<Duration> {
    response
        .headers()
        .get("retry-after")
        .and_then(parse_retry_after)
}

fn chain_has<T: StdError + 'static>(err: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if e.is::<T>() {
            return true;
        }
        current = e.source();
    }
    false
}

pub(crate) fn chain_has_io(err: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if e.is::<std::io::Error>() {
            return true;
        }
        // hyper's own error type is not in our dependency graph by name; its messages are
        // stable enough to recognise a connection that closed mid-body.
        let text = e.to_string();
        if text.contains("connection closed before message completed")
            || text.contains("end of file before message length reached")
            || text.contains("connection reset")
            || text.contains("error reading a body from connection")
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// The innermost cause of an error that reads as words: an I/O error's "Connection refused
/// (os error 111)", a credentials provider's message — not the SDK's wrappers, whose `Display`
/// is often a debug dump (`DispatchFailure(DispatchFailure { source: ConnectorError { … }`).
fn plain_cause(err: &(dyn StdError + 'static)) -> String {
    let debugish = |s: &str| {
        s.is_empty()
            || s.contains(" { ")
            || s.contains("Some(")
            || s.contains("Failure(")
            || s.contains("Error(")
            || s == "dispatch failure"
            || s == "io error"
            || s == "other"
    };
    let mut best: Option<String> = None;
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !debugish(&text) {
            best = Some(text);
        }
        current = e.source();
    }
    best.unwrap_or_else(|| "no further detail (run with -vv for the SDK's own)".to_string())
}

/// Classifies an `SdkError` of any Bedrock operation.
pub fn classify_sdk_error<E>(err: &SdkError<E, HttpResponse>) -> BackendError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    tracing::debug!(error = %DisplayErrorContext(err), "the SDK's error, whole");
    let detail = plain_cause(err);
    match err {
        SdkError::ServiceError(ctx) => {
            let raw = ctx.raw();
            let service = ctx.err();
            let message = service
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {} from Bedrock", raw.status().as_u16()));
            classify_service_error(
                service.code(),
                Some(raw.status().as_u16()),
                message,
                retry_after_of(raw),
            )
        }
        SdkError::TimeoutError(_) => {
            BackendError::network(format!("the request timed out: {detail}"))
        }
        SdkError::DispatchFailure(failure) => {
            if chain_has::<CredentialsError>(err) {
                BackendError::authentication(format!("no usable AWS credentials: {detail}"))
            } else if failure.is_timeout() {
                BackendError::network(format!("timed out connecting to Bedrock: {detail}"))
            } else if failure.is_user() {
                BackendError::validation(format!("the request could not be sent: {detail}"))
            } else {
                BackendError::network(format!("could not reach Bedrock: {detail}"))
            }
        }
        SdkError::ResponseError(ctx) => {
            if chain_has_io(err) {
                BackendError::network(format!("the response was cut off: {detail}"))
            } else {
                BackendError::Provider {
                    message: format!("malformed response from Bedrock: {detail}"),
                    code: None,
                    status: Some(ctx.raw().status().as_u16()),
                    retry_after: None,
                }
            }
        }
        SdkError::ConstructionFailure(_) => {
            if chain_has::<CredentialsError>(err) {
                BackendError::authentication(format!("no usable AWS credentials: {detail}"))
            } else {
                BackendError::validation(format!("the request could not be built: {detail}"))
            }
        }
        _ => BackendError::provider(format!("unexpected SDK error: {detail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamecode_backend::ErrorCategory::*;

    #[test]
    fn design_table_is_followed() {
        let cases = [
            (Some("ThrottlingException"), 429, RateLimited),
            (Some("ModelNotReadyException"), 429, RateLimited),
            (Some("ServiceUnavailableException"), 503, Provider),
            (Some("InternalServerException"), 500, Provider),
            (Some("ModelTimeoutException"), 408, Provider),
            (Some("ModelErrorException"), 424, Provider),
            (Some("ModelStreamErrorException"), 424, Provider),
            (Some("ValidationException"), 400, Validation),
            (Some("ResourceNotFoundException"), 404, Validation),
            (Some("AccessDeniedException"), 403, Authentication),
            (Some("UnrecognizedClientException"), 403, Authentication),
            (Some("InvalidSignatureException"), 403, Authentication),
            (Some("ExpiredTokenException"), 403, Authentication),
            (None, 502, Provider),
            (None, 504, Provider),
            (None, 429, RateLimited),
            (None, 401, Authentication),
            (None, 413, Validation),
            (None, 408, Provider),
            (Some("SomethingNewException"), 500, Provider),
            (Some("SomethingNewException"), 409, Validation),
        ];
        for (code, status, want) in cases {
            let got = classify_service_error(code, Some(status), "m".into(), None).category();
            assert_eq!(got, want, "{code:?} {status}");
        }
    }

    #[test]
    fn retry_after_is_kept_on_retryable_errors() {
        let e = classify_service_error(
            Some("ThrottlingException"),
            Some(429),
            "slow".into(),
            parse_retry_after("2"),
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
