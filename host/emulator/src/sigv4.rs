//! SigV4 verification of incoming requests.
//!
//! Why verify at all: a client that signs the wrong path (the classic mistake is the
//! double-encoding of `%3A` in model ids), the wrong region or service name, or a body other
//! than the one it sends, fails against real Bedrock with a 403; the emulator must fail it the
//! same way or such bugs ship. The signature is recomputed with `aws-sigv4` itself — fed the raw
//! request URI, exactly the headers the client listed in `SignedHeaders`, the exact body bytes
//! and the signing time from `x-amz-date` — so it reproduces the client's canonical request.

use crate::config::EmulatorConfig;
use crate::timefmt::{format_amz_date, parse_amz_date};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::HeaderMap;
use std::time::{Duration, SystemTime};

/// The signing name of Bedrock Runtime.
pub(crate) const SERVICE_NAME: &str = "bedrock";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);
/// The `x-amzn-errortype` suffix of errors raised by AWS's authentication front door.
const CORAL_SUFFIX: &str = ":http://internal.amazon.com/coral/com.amazon.coral.service/";

/// Why a request was not authenticated: always a 403 with this error type and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthFailure {
    pub(crate) error_type: String,
    pub(crate) message: String,
}

impl AuthFailure {
    fn new(kind: &str, message: impl Into<String>) -> Self {
        Self {
            error_type: format!("{kind}{CORAL_SUFFIX}"),
            message: message.into(),
        }
    }
    fn incomplete(message: impl Into<String>) -> Self {
        Self::new("IncompleteSignatureException", message)
    }
    fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidSignatureException", message)
    }
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, PartialEq, Eq)]
struct AuthorizationHeader<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<AuthorizationHeader<'_>, AuthFailure> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| {
            AuthFailure::incomplete(format!(
                "Unsupported authorization type or algorithm; expected '{ALGORITHM}'."
            ))
        })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some((key, val)) = part.split_once('=') {
            match key.trim() {
                "Credential" => credential = Some(val.trim()),
                "SignedHeaders" => signed_headers = Some(val.trim()),
                "Signature" => signature = Some(val.trim()),
                _ => {}
            }
        }
    }
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signed_headers.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(AuthFailure::incomplete(missing.join(" ")));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope.as_slice() else {
        return Err(AuthFailure::incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    Ok(AuthorizationHeader {
        access_key_id,
        date,
        region,
        service,
        terminator,
        signed_headers: signed_headers.split(';').collect(),
        signature,
    })
}

/// Compare two ASCII strings without an early exit on the first difference.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verify the SigV4 signature of a request against `config`, at server time `now`.
pub(crate) fn verify(
    method: &http::Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    config: &EmulatorConfig,
    now: SystemTime,
) -> Result<(), AuthFailure> {
    let Some(authorization) = headers.get(http::header::AUTHORIZATION) else {
        return Err(AuthFailure::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let authorization = authorization
        .to_str()
        .map_err(|_| AuthFailure::incomplete("The Authorization header is not valid ASCII."))?;
    // A Bedrock API key instead of a signature.
    if let Some(key) = authorization.strip_prefix("Bearer ") {
        return match &config.api_key {
            Some(expected) if key == expected => Ok(()),
            _ => Err(AuthFailure::new(
                "UnrecognizedClientException",
                "Authentication failed: Please make sure your API Key is valid.",
            )),
        };
    }
    let auth = parse_authorization(authorization)?;

    if auth.access_key_id != config.access_key_id {
        return Err(AuthFailure::new(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if auth.region != config.region {
        return Err(AuthFailure::invalid(
            "Credential should be scoped to a valid region.",
        ));
    }
    if auth.service != SERVICE_NAME {
        return Err(AuthFailure::invalid(format!(
            "Credential should be scoped to correct service: '{SERVICE_NAME}'."
        )));
    }
    if auth.terminator != "aws4_request" {
        return Err(AuthFailure::invalid(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            auth.terminator
        )));
    }
    if !auth.signed_headers.contains(&"host") {
        return Err(AuthFailure::invalid(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }

    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            AuthFailure::incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        })?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthFailure::incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    })?;
    check_skew(signed_at, now, amz_date)?;
    if auth.date != &amz_date[..8] {
        return Err(AuthFailure::invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.date,
            &amz_date[..8]
        )));
    }

    let session_token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let expected = compute_signature(
        method,
        uri,
        headers,
        &auth.signed_headers,
        body,
        config,
        session_token,
        signed_at,
    )
    .ok_or_else(|| AuthFailure::invalid(MISMATCH))?;
    if constant_time_eq(&expected, auth.signature) {
        Ok(())
    } else {
        Err(AuthFailure::invalid(MISMATCH))
    }
}

fn check_skew(signed_at: SystemTime, now: SystemTime, amz_date: &str) -> Result<(), AuthFailure> {
    match now.duration_since(signed_at) {
        Ok(age) if age > MAX_SKEW => Err(AuthFailure::invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            format_amz_date(now.checked_sub(MAX_SKEW).unwrap_or(now)),
            format_amz_date(now)
        ))),
        Ok(_) => Ok(()),
        Err(ahead) if ahead.duration() > MAX_SKEW => Err(AuthFailure::invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            format_amz_date(now.checked_add(MAX_SKEW).unwrap_or(now)),
            format_amz_date(now)
        ))),
        Err(_) => Ok(()),
    }
}

/// Recompute the signature the client should have produced; `None` if the request cannot be
/// canonicalized (which then counts as a mismatch).
#[allow(clippy::too_many_arguments)]
fn compute_signature(
    method: &http::Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    signed_headers: &[&str],
    body: &[u8],
    config: &EmulatorConfig,
    session_token: Option<String>,
    signed_at: SystemTime,
) -> Option<String> {
    // Only the listed headers, with their received values. x-amz-date and the session token
    // are added by the signer itself from the signing time and the credentials.
    let mut signable_headers: Vec<(&str, &str)> = Vec::new();
    for name in signed_headers {
        if *name == "x-amz-date" || *name == "x-amz-security-token" {
            continue;
        }
        let mut found = false;
        for value in headers.get_all(*name) {
            let value = value.to_str().ok()?;
            signable_headers.push((name, value));
            found = true;
        }
        if !found {
            return None;
        }
    }
    // The authority is never used (the host header is always signed); the path and query are
    // the raw ones, still percent-encoded, exactly as the client signed them.
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("http://emulator.invalid{path_and_query}");

    let identity = Credentials::new(
        config.access_key_id.clone(),
        config.secret_access_key.clone(),
        session_token,
        None,
        "bedrock-emulator",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Sign exactly what the client listed; the default exclusions would drop e.g. a signed
    // user-agent and so reject a client that is valid for AWS.
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(config.region.as_str())
        .name(SERVICE_NAME)
        .time(signed_at)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let request = SignableRequest::new(
        method.as_str(),
        url,
        signable_headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .ok()?;
    // aws-sigv4 is not meant for untrusted input; a panic inside it must not take the
    // connection task down, it is just a request we cannot verify.
    let output = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sign(request, &params)))
        .ok()?
        .ok()?;
    let (_instructions, signature) = output.into_parts();
    Some(signature)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY};

    /// Sign a request the way the SDK does and return its headers (host, x-amz-date,
    /// authorization, a session token if the credentials have one, and the given ones).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sign_like_sdk(
        uri: &str,
        host: &str,
        extra_headers: &[(&str, &str)],
        body: &[u8],
        credentials: Credentials,
        region: &str,
        service: &str,
        at: SystemTime,
    ) -> HeaderMap {
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{host}{uri}"))
            .header("host", host);
        for (k, v) in extra_headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(()).unwrap();
        let signable = SignableRequest::new(
            "POST",
            req.uri().to_string(),
            req.headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _sig) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut req);
        req.headers().clone()
    }

    const PATH: &str = "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse";
    const HOST: &str = "127.0.0.1:4567";
    const BODY: &[u8] = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;

    fn signed(secret: &str, region: &str, service: &str, at: SystemTime) -> HeaderMap {
        sign_like_sdk(
            PATH,
            HOST,
            &[
                ("content-type", "application/json"),
                ("content-length", "57"),
                ("x-amz-user-agent", "aws-sdk-rust/1.0"),
            ],
            BODY,
            Credentials::new(DEFAULT_ACCESS_KEY_ID, secret, None, None, "test"),
            region,
            service,
            at,
        )
    }

    fn check(headers: &HeaderMap, body: &[u8]) -> Result<(), AuthFailure> {
        let uri: http::Uri = PATH.parse().unwrap();
        verify(
            &http::Method::POST,
            &uri,
            headers,
            body,
            &EmulatorConfig::default(),
            SystemTime::now(),
        )
    }

    fn kind(r: Result<(), AuthFailure>) -> String {
        let e = r.unwrap_err();
        e.error_type.split(':').next().unwrap().to_string()
    }

    #[test]
    fn a_correctly_signed_request_verifies() {
        let h = signed(
            DEFAULT_SECRET_ACCESS_KEY,
            "us-east-1",
            "bedrock",
            SystemTime::now(),
        );
        check(&h, BODY).unwrap();
    }

    #[test]
    fn a_session_token_is_part_of_the_signature() {
        let credentials = Credentials::new(
            DEFAULT_ACCESS_KEY_ID,
            DEFAULT_SECRET_ACCESS_KEY,
            Some("session-token".into()),
            None,
            "t",
        );
        let headers = sign_like_sdk(
            PATH,
            HOST,
            &[],
            BODY,
            credentials,
            "us-east-1",
            "bedrock",
            SystemTime::now(),
        );
        check(&headers, BODY).unwrap();
        let mut tampered = headers.clone();
        tampered.insert("x-amz-security-token", "other".parse().unwrap());
        assert_eq!(kind(check(&tampered, BODY)), "InvalidSignatureException");
    }

    #[test]
    fn wrong_secret_tampered_body_or_path_fail() {
        let h = signed("not-the-secret", "us-east-1", "bedrock", SystemTime::now());
        assert_eq!(kind(check(&h, BODY)), "InvalidSignatureException");

        let h = signed(
            DEFAULT_SECRET_ACCESS_KEY,
            "us-east-1",
            "bedrock",
            SystemTime::now(),
        );
        assert_eq!(kind(check(&h, b"{}")), "InvalidSignatureException");

        let uri: http::Uri = "/model/us.anthropic.claude-3-7-sonnet-20250219-v1:0/converse"
            .parse()
            .unwrap();
        let r = verify(
            &http::Method::POST,
            &uri,
            &h,
            BODY,
            &EmulatorConfig::default(),
            SystemTime::now(),
        );
        assert_eq!(kind(r), "InvalidSignatureException");

        let mut changed = h.clone();
        changed.insert("content-type", "text/plain".parse().unwrap());
        assert_eq!(kind(check(&changed, BODY)), "InvalidSignatureException");
    }

    #[test]
    fn scope_errors_are_reported_like_aws() {
        let h = signed(
            DEFAULT_SECRET_ACCESS_KEY,
            "eu-west-1",
            "bedrock",
            SystemTime::now(),
        );
        let e = check(&h, BODY).unwrap_err();
        assert!(e.error_type.starts_with("InvalidSignatureException"));
        assert_eq!(e.message, "Credential should be scoped to a valid region.");

        let h = signed(
            DEFAULT_SECRET_ACCESS_KEY,
            "us-east-1",
            "bedrock-runtime",
            SystemTime::now(),
        );
        let e = check(&h, BODY).unwrap_err();
        assert!(e.message.contains("correct service"), "{}", e.message);

        let h = sign_like_sdk(
            PATH,
            HOST,
            &[],
            BODY,
            Credentials::new(
                "AKIDSOMEONEELSE",
                DEFAULT_SECRET_ACCESS_KEY,
                None,
                None,
                "test",
            ),
            "us-east-1",
            "bedrock",
            SystemTime::now(),
        );
        assert_eq!(kind(check(&h, BODY)), "UnrecognizedClientException");
    }

    #[test]
    fn missing_or_malformed_authorization() {
        let mut h = HeaderMap::new();
        assert_eq!(kind(check(&h, BODY)), "MissingAuthenticationTokenException");
        // A bearer token is an API key; none is configured here, so it is not recognized.
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(kind(check(&h, BODY)), "UnrecognizedClientException");
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=a/b/c".parse().unwrap(),
        );
        assert_eq!(kind(check(&h, BODY)), "IncompleteSignatureException");
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        assert_eq!(kind(check(&h, BODY)), "IncompleteSignatureException");
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDGAMECODEEMULATOR/20240101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
                .parse()
                .unwrap(),
        );
        // no x-amz-date header
        assert_eq!(kind(check(&h, BODY)), "IncompleteSignatureException");
        h.insert("x-amz-date", "garbage".parse().unwrap());
        assert_eq!(kind(check(&h, BODY)), "IncompleteSignatureException");
    }

    #[test]
    fn clock_skew_is_rejected() {
        let old = SystemTime::now() - Duration::from_secs(600);
        let h = signed(DEFAULT_SECRET_ACCESS_KEY, "us-east-1", "bedrock", old);
        let e = check(&h, BODY).unwrap_err();
        assert!(e.message.starts_with("Signature expired"), "{}", e.message);
        let future = SystemTime::now() + Duration::from_secs(600);
        let h = signed(DEFAULT_SECRET_ACCESS_KEY, "us-east-1", "bedrock", future);
        let e = check(&h, BODY).unwrap_err();
        assert!(
            e.message.starts_with("Signature not yet current"),
            "{}",
            e.message
        );
        let slightly_old = SystemTime::now() - Duration::from_secs(120);
        let h = signed(
            DEFAULT_SECRET_ACCESS_KEY,
            "us-east-1",
            "bedrock",
            slightly_old,
        );
        check(&h, BODY).unwrap();
    }

    #[test]
    fn parses_authorization_headers() {
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(a.access_key_id, "AKID");
        assert_eq!(a.date, "20240101");
        assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);
        assert_eq!(a.signature, "abc");
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
