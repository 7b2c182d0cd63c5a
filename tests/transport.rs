//! The client's transport, against servers on 127.0.0.1 that record what they receive:
//! parameters travel in the body (never in the URL), a failure's message carries nothing
//! signed, redirects are not followed, and an oversized answer is refused unread.

use std::sync::{Arc, Mutex};

use iot_platform::http::{Endpoints, HttpPlatform, MAX_RESPONSE_BYTES, http_client};
use iot_platform::model::{ImportThingModelTsl, QueryProductList};
use iot_platform::ratelimit::AccountLimiter;
use iot_platform::retry::RetryPolicy;
use iot_platform::{Credentials, IotPlatform};
use iot_product_operator::crd::platform_account::SignatureVersion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY_ID: &str = "LTAI5tTransportKeyId";
const KEY_SECRET: &str = "transport-secret-9f2b";
const TOKEN: &str = "sts-token-transport-77aa";

/// A server that records every request (head and body) and answers each with `answer`.
async fn recorder(answer: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let log = log.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut raw = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let Ok(n) = stream.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if raw.len() >= end + 4 + length {
                            log.lock().unwrap().push(text);
                            let _ = stream.write_all(answer.as_bytes()).await;
                            let _ = stream.shutdown().await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, seen)
}

fn ok_answer() -> String {
    let body = r#"{"RequestId":"r-1","Success":true,"Data":{"CurrentPage":1,"PageCount":0,"PageSize":1,"Total":0,"List":{"ProductInfo":[]}}}"#;
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn client(url: &str, signature: SignatureVersion) -> Arc<dyn IotPlatform> {
    Arc::new(
        HttpPlatform::new(
            http_client(),
            Endpoints::resolve(
                &iot_platform::endpoint_policy::EndpointPolicy::new(["http://127.0.0.1:*"]).unwrap(),
                "cn-shanghai",
                Some(url),
                None,
            )
            .unwrap(),
            Credentials::new(KEY_ID, KEY_SECRET, Some(TOKEN.into())),
            signature,
            Arc::new(AccountLimiter::new(100.0)),
        )
        .with_retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }),
    )
}

#[tokio::test]
async fn parameters_travel_in_the_body_and_the_url_is_bare_with_both_signatures() {
    for signature in [SignatureVersion::V1, SignatureVersion::V3] {
        let (url, seen) = recorder(ok_answer()).await;
        let model = format!("{{\"properties\":[],\"pad\":\"{}\"}}", "x".repeat(300_000));
        let platform = client(&url, signature);
        let _ = platform
            .call(&ImportThingModelTsl {
                product_key: "a1Key".into(),
                tsl_str: Some(model),
                ..Default::default()
            })
            .await;
        platform
            .call(&QueryProductList { current_page: 1, page_size: 1, ..QueryProductList::default() })
            .await
            .unwrap();
        let requests = seen.lock().unwrap().clone();
        assert_eq!(requests.len(), 2, "{signature:?}");
        for request in &requests {
            let request_line = request.lines().next().unwrap();
            assert_eq!(request_line, "POST / HTTP/1.1", "{signature:?}: parameters in the URL");
            assert!(request.to_ascii_lowercase().contains("content-type: application/x-www-form-urlencoded"));
        }
        assert!(requests[0].contains("TslStr=") && requests[0].len() > 300_000, "the model is in the body");
        assert!(requests[1].contains("PageSize=1"), "{}", requests[1]);
    }
}

#[tokio::test]
async fn a_transport_failure_carries_nothing_signed() {
    // A port that refuses connections, and one that drops them mid-request.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        url
    };
    let (dropping, _) = recorder(String::new()).await;
    for url in [closed, dropping] {
        for signature in [SignatureVersion::V1, SignatureVersion::V3] {
            let error = client(&url, signature)
                .call(&QueryProductList { current_page: 1, page_size: 1, ..QueryProductList::default() })
                .await
                .unwrap_err();
            let shown = format!("{error} {error:?}");
            for secret in [KEY_ID, KEY_SECRET, TOKEN, "Signature", "AccessKeyId", "SecurityToken", "?"] {
                assert!(!shown.contains(secret), "{signature:?} {url}: {secret:?} in {shown}");
            }
        }
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (target, target_seen) = recorder(ok_answer()).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {target}/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let (url, seen) = recorder(redirect).await;
    for signature in [SignatureVersion::V1, SignatureVersion::V3] {
        let result = client(&url, signature)
            .call(&QueryProductList { current_page: 1, page_size: 1, ..QueryProductList::default() })
            .await;
        assert!(result.is_err(), "{signature:?}: a redirect is an error, not followed");
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(target_seen.lock().unwrap().is_empty(), "the signed request reached the redirect's target");
}

#[tokio::test]
async fn an_oversized_answer_is_refused_unread() {
    let huge = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        MAX_RESPONSE_BYTES + 1
    );
    let (url, _) = recorder(huge).await;
    let error = client(&url, SignatureVersion::V3)
        .call(&QueryProductList { current_page: 1, page_size: 1, ..QueryProductList::default() })
        .await
        .unwrap_err();
    assert!(error.to_string().contains("larger than"), "{error}");
}
