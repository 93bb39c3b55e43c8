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
