//! Error classification and the retry policy, against injected faults, through the real SDK.
//!
//! Every test counts the attempts that actually reached the emulator, so a retry loop hidden
//! in the SDK would show up as extra requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use bedrock_emulator::{DEFAULT_ACCESS_KEY_ID, Fault};
use gamecode_backend::{BackendError, ErrorCategory, RetryBudget, RetryConfig, RetryStatus};

/// Injects `fault` for every attempt and returns the error and the attempts made.
async fn always_failing(fault: Fault, max_retries: u32) -> (BackendError, usize) {
    let emu = emulator().await;
    emu.inject(fault, 100);
    let err = backend(&emu)
        .chat_with_retry(hello(), fast_retry(max_retries))
        .await
        .unwrap_err();
    (err, emu.request_count())
}

#[tokio::test]
async fn every_bedrock_error_lands_in_its_category_with_exact_attempts() {
    init_tracing();
    let cases = [
        (
            Fault::throttling(),
            ErrorCategory::RateLimited,
            Some("ThrottlingException"),
            3,
        ),
        (
            Fault::model_not_ready(),
            ErrorCategory::RateLimited,
            Some("ModelNotReadyException"),
            3,
        ),
        (
            Fault::service_unavailable(),
            ErrorCategory::Provider,
            Some("ServiceUnavailableException"),
            3,
        ),
        (
            Fault::internal_server(),
            ErrorCategory::Provider,
            Some("InternalServerException"),
            3,
        ),
        (
            Fault::model_timeout(),
            ErrorCategory::Provider,
            Some("ModelTimeoutException"),
            3,
        ),
        (
            Fault::model_error(),
            ErrorCategory::Provider,
            Some("ModelErrorException"),
            3,
        ),
        (
            Fault::validation("bad input"),
            ErrorCategory::Validation,
            Some("ValidationException"),
            1,
        ),
        (
            Fault::resource_not_found(),
            ErrorCategory::Validation,
            Some("ResourceNotFoundException"),
            1,
        ),
        (
            Fault::access_denied(),
            ErrorCategory::Authentication,
            Some("AccessDeniedException"),
            1,
        ),
        (
            Fault::Status {
                status: 502,
                body: "<html>Bad Gateway</html>".into(),
            },
            ErrorCategory::Provider,
            None,
            3,
        ),
        (Fault::DropConnection, ErrorCategory::Network, None, 3),
        (Fault::TruncatedBody, ErrorCategory::Network, None, 3),
        (Fault::MalformedBody, ErrorCategory::Provider, None, 3),
    ];
    for (fault, category, code, attempts) in cases {
        let label = format!("{fault:?}");
        let (err, made) = always_failing(fault, 2).await;
        assert_eq!(err.category(), category, "{label}: {err}");
        if code.is_some() {
            assert_eq!(err.code(), code, "{label}");
        }
        assert_eq!(made, attempts, "{label}: attempts");
        assert!(!err.message().is_empty(), "{label}");
    }
}

#[tokio::test]
async fn transient_faults_are_retried_to_success() {
    for fault in [
        Fault::throttling(),
        Fault::internal_server(),
        Fault::DropConnection,
        Fault::TruncatedBody,
    ] {
        let emu = emulator().await;
        emu.inject(fault.clone(), 2);
        let (backend, seen) = recording(backend(&emu));
        let r = backend.chat_with_retry(hello(), fast_retry(3)).await;
        assert!(r.is_ok(), "{fault:?}: {r:?}");
        assert_eq!(emu.request_count(), 3, "{fault:?}");
        assert_eq!(
            seen.lock().unwrap().len(),
            2,
            "{fault:?}: one event per retry"
        );
    }
}

#[tokio::test]
async fn status_events_name_what_happened() {
    let emu = emulator().await;
    emu.inject(Fault::throttling(), 1);
    emu.inject(Fault::internal_server(), 1);
    emu.inject(Fault::validation("nope"), 1);
    let (backend, seen) = recording(backend(&emu));
    let err = backend
        .chat_with_retry(hello(), fast_retry(5))
        .await
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Validation);
    let seen = seen.lock().unwrap();
    assert!(
        matches!(
            seen.as_slice(),
            [
                RetryStatus::RateLimited {
                    attempt: 1,
                    max_attempts: 6,
                    ..
                },
                RetryStatus::RetryAttempt { attempt: 2, .. },
                RetryStatus::NonRetryableError { attempt: 3, .. },
            ]
        ),
        "{seen:#?}"
    );
}

#[tokio::test]
async fn backoff_delays_stay_within_their_jitter_bounds() {
    let emu = emulator().await;
    emu.inject(Fault::internal_server(), 100);
    let config = RetryConfig {
        max_retries: 3,
        initial_delay: Duration::from_millis(80),
        jitter: 0.5,
        max_delay: Duration::from_secs(5),
        ..fast_retry(3)
    };
    let _ = backend(&emu).chat_with_retry(hello(), config.clone()).await;
    let log = emu.requests();
    assert_eq!(log.len(), 4);
    for retry in 0..3u32 {
        let gap = log[retry as usize + 1].at - log[retry as usize].at;
        let base = config.base_delay(retry);
        let low = base.mul_f64(0.5);
        // The upper bound allows for request handling on a loaded machine.
        let high = base + Duration::from_millis(250);
        assert!(gap >= low, "retry {retry}: {gap:?} < {low:?}");
        assert!(gap <= high, "retry {retry}: {gap:?} > {high:?}");
    }
}

#[tokio::test]
async fn server_retry_after_hint_is_honoured() {
    let emu = emulator().await;
    emu.inject(
        Fault::throttling().with_retry_after(Duration::from_secs(1)),
        1,
    );
    let config = RetryConfig {
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
        ..fast_retry(2)
    };
    let (backend, seen) = recording(backend(&emu));
    backend.chat_with_retry(hello(), config).await.unwrap();
    let log = emu.requests();
    assert!(log[1].at - log[0].at >= Duration::from_secs(1));
    assert!(matches!(
        seen.lock().unwrap().as_slice(),
        [RetryStatus::RateLimited { retry_after: Some(d), .. }] if *d == Duration::from_secs(1)
    ));
}

#[tokio::test]
async fn a_shared_budget_stops_a_retry_storm() {
    let emu = emulator().await;
    emu.inject(Fault::throttling(), 1000);
    // Room for two retries in total, shared by every clone. The budget alone: the adaptive
    // rate limiter (tested in stalls.rs) would keep some attempts from being sent at all.
    let budget = Arc::new(RetryBudget::with_costs(10, 5, 10, 1));
    let backend = backend(&emu)
        .with_retry_budget(budget.clone())
        .with_adaptive_rate_limit(false);
    let callers: Vec<_> = (0..10)
        .map(|_| {
            let b = backend.clone();
            tokio::spawn(async move { b.chat_with_retry(hello(), fast_retry(5)).await })
        })
        .collect();
    for c in callers {
        let err = c.await.unwrap().unwrap_err();
        assert_eq!(err.category(), ErrorCategory::RateLimited);
    }
    // Without the budget: 10 callers x 6 attempts = 60.
    assert_eq!(emu.request_count(), 12);
    assert_eq!(budget.available(), 0);
}

#[tokio::test]
async fn wrong_credentials_are_an_authentication_error_and_not_retried() {
    let emu = emulator().await;
    let err = backend_with(&emu, DEFAULT_ACCESS_KEY_ID, "wrong-secret")
        .chat(hello())
        .await
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Authentication, "{err}");
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    assert_eq!(emu.request_count(), 1);

    let err = backend_with(&emu, "AKIDUNKNOWN", "whatever")
        .chat(hello())
        .await
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Authentication, "{err}");
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
}

#[tokio::test]
async fn a_slow_attempt_times_out_as_a_network_error_and_is_retried() {
    let emu = emulator().await;
    emu.inject(Fault::Delay(Duration::from_secs(3)), 100);
    let backend = backend(&emu).with_attempt_timeout(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let err = backend
        .chat_with_retry(hello(), fast_retry(1))
        .await
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Network, "{err}");
    assert!(err.message().contains("timed out"), "{err}");
    assert_eq!(emu.request_count(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "timeouts bound each attempt"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_network_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let emu = emulator().await;
    let (backend, seen) =
        recording(backend(&emu).with_endpoint_url(format!("http://127.0.0.1:{port}")));
    let err = backend
        .chat_with_retry(hello(), fast_retry(2))
        .await
        .unwrap_err();
    assert_eq!(err.category(), ErrorCategory::Network, "{err}");
    assert!(matches!(
        seen.lock().unwrap().last(),
        Some(RetryStatus::RetriesExhausted { attempts: 3, .. })
    ));
}

#[tokio::test]
async fn disabled_retries_make_exactly_one_attempt() {
    let (err, made) = {
        let emu = emulator().await;
        emu.inject(Fault::service_unavailable(), 100);
        let err = backend(&emu)
            .chat_with_retry(hello(), RetryConfig::disabled())
            .await
            .unwrap_err();
        (err, emu.request_count())
    };
    assert_eq!(err.category(), ErrorCategory::Provider);
    assert_eq!(made, 1);
}
