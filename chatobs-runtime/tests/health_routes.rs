//! `/health` and `/health/ready` on 127.0.0.1: 200 with the checks named
//! while chatobs is installed, 503 once it is not.

use chatobs_runtime::config::ExporterKind;
use chatobs_runtime::integrations::{axum::health_router, health::HealthConfig};

#[tokio::test]
async fn liveness_and_readiness() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let app: axum::Router = health_router(HealthConfig::default());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(60), axum::serve(l, app)).await;
    });
    let mut cfg = chatobs_runtime::Config::default();
    cfg.exporter.kinds = vec![ExporterKind::Memory];
    cfg.logs.format = chatobs_runtime::config::LogFormat::Off;
    let guard = chatobs_runtime::init(cfg).unwrap();
    let http = reqwest::Client::new();
    let live = http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(
        live.json::<serde_json::Value>().await.unwrap()["status"],
        "healthy"
    );
    let ready = http
        .get(format!("http://{addr}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let v: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(v["status"], "ready");
    for c in ["config", "exporter_queue", "export"] {
        assert_eq!(v["checks"][c], "healthy", "{v}");
    }
    drop(guard);
    let ready = http
        .get(format!("http://{addr}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let v: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(v["status"], "not_ready");
    assert_eq!(v["checks"]["config"], "unhealthy");
}

/// The app's own checks: a database that answers, an LLM provider that
/// fails (its reason redacted), a cache that hangs past its timeout, a
/// check that panics. `/health/ready` runs them concurrently and answers 503.
#[tokio::test]
async fn app_checks_decide_readiness_with_their_timeouts() {
    use chatobs_runtime::integrations::axum::{health_router_with, ReadyChecks};
    use std::time::Duration;
    let ok_only =
        ReadyChecks::new().check("database", Duration::from_millis(500), || async { Ok(()) });
    let all = ok_only
        .clone()
        .check("llm provider", Duration::from_millis(500), || async {
            Err("quota exhausted for key of ops@shop.co, call +57 300 123 4567".to_string())
        })
        .check("redis", Duration::from_millis(100), || async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        })
        .check("flaky", Duration::from_millis(500), || async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok(())
        });
    let serve = |checks: ReadyChecks| async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let app: axum::Router = health_router_with(HealthConfig::default(), checks);
            let _ = tokio::time::timeout(Duration::from_secs(60), axum::serve(l, app)).await;
        });
        addr
    };
    let (good, bad) = (serve(ok_only).await, serve(all).await);
    let http = reqwest::Client::new();
    let get = |addr: std::net::SocketAddr| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://{addr}/health/ready"))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (code, v) = get(good).await;
    assert_eq!(v["checks"]["database"], "healthy", "{v}");
    // chatobs is not installed in this test: its own config check decides the status.
    assert_eq!(
        code,
        if v["checks"]["config"] == "healthy" {
            200
        } else {
            503
        }
    );
    let (code, v) = get(bad).await;
    assert_eq!(code, 503, "{v}");
    assert_eq!(v["status"], "not_ready");
    assert_eq!(v["checks"]["database"], "healthy");
    assert_eq!(v["checks"]["llm_provider"], "unhealthy");
    assert_eq!(v["checks"]["redis"], "unhealthy");
    assert_eq!(v["checks"]["flaky"], "unhealthy");
    assert_eq!(v["details"]["redis"], "timed out after 100 ms");
    assert_eq!(v["details"]["flaky"], "the check panicked");
    let why = v["details"]["llm_provider"].as_str().unwrap();
    assert!(why.starts_with("quota exhausted"), "{why}");
    assert!(
        !why.contains("ops@shop.co") && !why.contains("300 123 4567"),
        "{why}"
    );
}
