//! The emulator's HTTP side: one listener per region, the API at `/`, and a test-only admin
//! view under `/_emulator/`.
//!
//! Admin (loopback only): `GET /_emulator/state`, `GET|PUT /_emulator/faults`,
//! `GET|PUT /_emulator/sts`, `GET|PUT /_emulator/devices/{productKey}`,
//! `GET|PUT /_emulator/consumer-groups/{groupId}/status`.
//!
//! Not admin (any client, no credentials: the token is the credential, like a presigned
//! object URL): `GET /_emulator/scripts/{token}`, the data-parsing script GetThingScript's
//! `ScriptUrl` points to.
//!
//! Per request: read → authenticate ([`super::gateway`]) → rate limit (the documented QPS
//! per account and action) → faults → execute ([`super::state`]) → answer in JSON (or XML),
//! or — for a "lost response" fault — close the connection without answering after the
//! change was made.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming as IncomingBody;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tracing::{debug, warn};

use super::faults::{ErrorKind, FaultInjector, Faults};
use super::gateway::{self, AccessKey, Incoming, KeyLookup, NonceCache};
use super::state::{
    ApiError, CallContext, DeviceChange, GroupStatusSetting, Rules, SCRIPT_PATH, ScriptLinkError, Snapshot,
    State,
};
use super::sts::{Sts, StsConfig, TemporaryKey};
use super::xml;
use iot_platform::quota;
use iot_platform::sts::STS_VERSION;
use iot_platform::wire::Params;

/// Whether `peer` may use the admin endpoints (`/_emulator/*`, which return every
/// ProductSecret): loopback clients only.
#[must_use]
pub fn admin_allowed(peer: SocketAddr) -> bool {
    peer.ip().is_loopback()
}

/// Connections served at once; more wait for a free one.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// How the emulator is set up.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Keys it accepts.
    pub access_keys: Vec<AccessKey>,
    /// Business rules.
    pub rules: Rules,
    /// Faults at start.
    pub faults: Faults,
    /// Enforce the documented QPS per account and action.
    pub rate_limit: bool,
    /// Multiplies every documented QPS (for example 0.5 to make throttling likelier).
    pub qps_scale: f64,
    /// Seed of fault decisions.
    pub seed: u64,
    /// The STS setup (roles, OIDC providers, credential lifetime).
    pub sts: StsConfig,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            access_keys: Vec::new(),
            rules: Rules::default(),
            faults: Faults::default(),
            rate_limit: true,
            qps_scale: 1.0,
            seed: 42,
            sts: StsConfig::default(),
        }
    }
}

/// Counters for the admin view.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Requests received at `/`.
    pub requests: u64,
    /// Calls by action and outcome (`Success` or the error code).
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Calls refused by the rate limiter or a throttling storm.
    pub throttled: u64,
    /// Server errors injected.
    pub injected_errors: u64,
    /// Responses lost after the change was made.
    pub lost_responses: u64,
    /// Calls executed and then answered with a server error.
    pub failed_after_commit: u64,
    /// Requests refused by the gateway for their signature, key, nonce or time.
    pub refused_signatures: u64,
    /// Those refusals by code (for example `InvalidSecurityToken.Expired`).
    pub refused: BTreeMap<String, u64>,
    /// Temporary credentials STS issued.
    pub sts_issued: u64,
    /// Answers whose made-up code was disguised (opaque-codes mode).
    pub disguised: u64,
    /// Every write that changed the platform, in order (at most [`MAX_WRITES_KEPT`]): what a
    /// test compares with what `plan` said.
    pub writes: Vec<Write>,
}

/// The most writes [`Stats::writes`] keeps (the oldest are dropped).
pub const MAX_WRITES_KEPT: usize = 100_000;

/// One write that succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Write {
    /// The action.
    pub action: String,
    /// What it was about: the `ProductKey`, else the `ProductName`, `GroupName` or `GroupId`
    /// parameter (empty when none).
    pub subject: String,
}

/// Whether `action` only reads.
fn is_read(action: &str) -> bool {
    ["Query", "List", "Get"].iter().any(|prefix| action.starts_with(prefix))
}

/// The emulated platform.
pub struct Emulator {
    keys: Vec<AccessKey>,
    sts: Mutex<Sts>,
    state: Mutex<State>,
    nonces: Mutex<NonceCache>,
    faults: Mutex<FaultInjector>,
    limiters: Mutex<HashMap<(String, String), Arc<DefaultDirectRateLimiter>>>,
    rate_limit: bool,
    qps_scale: f64,
    stats: Mutex<Stats>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator").field("keys", &self.keys).finish_non_exhaustive()
    }
}

/// The server error an injected fault answers with.
fn injected_error(kind: ErrorKind) -> ApiError {
    match kind {
        ErrorKind::InternalError => ApiError::gateway(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error.",
        ),
        ErrorKind::ServiceUnavailable => ApiError::gateway(
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        ),
        ErrorKind::SystemException => {
            ApiError::business("iot.system.SystemException", "A system exception occurred.")
        }
    }
}

/// The answer to one request: a response, or close the connection without one.
enum Answer {
    Respond(Response<Full<Bytes>>),
    Drop,
}

/// The error a service returns to make hyper close the connection without answering.
#[derive(Debug)]
struct DroppedResponse;

impl std::fmt::Display for DroppedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response dropped by fault injection")
    }
}

impl std::error::Error for DroppedResponse {}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

fn json_response(status: u16, request_id: &str, body: String, content_type: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .header("x-acs-request-id", request_id)
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

/// The region an endpoint host names (`iot.<region>.aliyuncs.com`, `iot-vpc.<region>…`).
fn region_of_host(host: &str) -> Option<String> {
    let host = host.split(':').next().unwrap_or_default();
    let rest = host.strip_prefix("iot.").or_else(|| host.strip_prefix("iot-vpc."))?;
    let region = rest.strip_suffix(".aliyuncs.com")?;
    (!region.is_empty() && !region.contains('.')).then(|| region.to_string())
}

impl Emulator {
    /// An emulator with `config`.
    #[must_use]
    pub fn new(config: EmulatorConfig) -> Arc<Self> {
        let mut sts = Sts::default();
        sts.configure(config.sts);
        Arc::new(Self {
            keys: config.access_keys,
            sts: Mutex::new(sts),
            state: Mutex::new(State::new(config.rules)),
            nonces: Mutex::new(NonceCache::default()),
            faults: Mutex::new(FaultInjector::new(config.faults, config.seed)),
            limiters: Mutex::new(HashMap::new()),
            rate_limit: config.rate_limit,
            qps_scale: config.qps_scale,
            stats: Mutex::new(Stats::default()),
        })
    }

    /// A snapshot of the state, for tests and the admin view.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.state.lock().expect("state lock").snapshot(now_ms())
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.lock().expect("stats lock").clone();
        stats.sts_issued = self.sts.lock().expect("sts lock").issued_total;
        stats.disguised = self.state.lock().expect("state lock").disguised();
        stats
    }

    /// Replaces the STS setup (credentials issued earlier stay valid until they expire).
    pub fn set_sts(&self, config: StsConfig) {
        self.sts.lock().expect("sts lock").configure(config);
    }

    /// The STS setup.
    #[must_use]
    pub fn sts_config(&self) -> StsConfig {
        self.sts.lock().expect("sts lock").config().clone()
    }

    /// A change made in the console by a person of account `uid`: straight to the state, past
    /// the gateway, its faults and quotas (and not counted in [`Stats`]). Tests use it for
    /// out-of-band edits, publications, tag changes and deletions.
    ///
    /// # Errors
    /// The [`ApiError`] the platform would answer.
    pub fn console(
        &self,
        uid: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<serde_json::Value, ApiError> {
        let context = CallContext {
            uid: uid.to_string(),
            logon_id: String::new(),
            region: "cn-shanghai".into(),
            now_ms: now_ms(),
            fail_distribution: false,
        };
        let params = Params::from_pairs(params.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())));
        self.state.lock().expect("state lock").handle(&context, action, &params)
    }

    /// Makes a product of account `uid` as CreateProduct with `params` would, under the key
    /// and secret another platform gave it (a product restored from a record, such as the
    /// upgrade test's products made by an earlier release). Past the gateway, its faults and
    /// quotas.
    ///
    /// # Errors
    /// The [`ApiError`] CreateProduct would answer, or `InvalidParameter` when the key is taken.
    pub fn restore_product(
        &self,
        uid: &str,
        params: &[(&str, &str)],
        product_key: &str,
        product_secret: &str,
    ) -> Result<(), ApiError> {
        let made = self.console(uid, "CreateProduct", params)?;
        let key = made["Data"]["ProductKey"].as_str().unwrap_or_default().to_string();
        self.state.lock().expect("state lock").rekey_product(uid, &key, product_key, product_secret)
    }

    /// Gives product `product_key` of account `uid` at least `total` devices (registering
    /// more as needed, never removing any), of which the first `activated` (in registration
    /// order) are activated and the first `online` online, the others not: what real devices
    /// do by registering and connecting. Past the gateway, its faults and quotas.
    ///
    /// # Errors
    /// `iot.prod.NotExistedProduct` when the account has no such product; `InvalidParameter`
    /// (400) unless `online` ≤ `activated` ≤ the product's devices, or when the key names
    /// products in several instances (a distributed copy).
    pub fn set_devices(
        &self,
        uid: &str,
        product_key: &str,
        total: usize,
        activated: usize,
        online: usize,
    ) -> Result<(), ApiError> {
        let change =
            DeviceChange { register: 0, at_least: total, activated: Some(activated), online: Some(online) };
        self.state.lock().expect("state lock").set_devices(Some(uid), None, product_key, change, now_ms())?;
        Ok(())
    }

    /// Sets the status of consumer group `group_id` of account `uid` (its backlog, connected
    /// AMQP clients and consumption speed; an absent count keeps the current one), as its
    /// AMQP clients would make it; QueryConsumerGroupStatus reports it. The default group
    /// (`DEFAULT_GROUP`, in every instance) needs `setting.iot_instance_id`. Past the gateway,
    /// its faults and quotas.
    ///
    /// # Errors
    /// The made-up `iot.consumergroup.NotExistedGroup` when the account has no such group;
    /// `InvalidParameter` (400) for a negative count, more than 64 clients, or an id in
    /// several instances without `iot_instance_id`.
    pub fn set_consumer_group_status(
        &self,
        uid: &str,
        group_id: &str,
        mut setting: GroupStatusSetting,
    ) -> Result<(), ApiError> {
        setting.uid = Some(uid.to_string());
        self.state.lock().expect("state lock").set_consumer_group_status(group_id, &setting, now_ms())?;
        Ok(())
    }

    /// `GET` (no body) or `PUT` (a [`GroupStatusSetting`]) `/_emulator/consumer-groups/{groupId}/status`
    /// (`?iotInstanceId=` and `?uid=` pick the group too): the group's status, after the change.
    fn admin_group_status(&self, group_id: &str, query: Option<&str>, put: Option<&[u8]>) -> (u16, Value) {
        let mut setting = match put {
            None => GroupStatusSetting::default(),
            Some(body) => match serde_json::from_slice::<GroupStatusSetting>(body) {
                Ok(setting) => setting,
                Err(e) => return (400, json!({"error": e.to_string()})),
            },
        };
        for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match name.as_ref() {
                "iotInstanceId" if setting.iot_instance_id.is_none() => {
                    setting.iot_instance_id = Some(value.into_owned())
                }
                "uid" if setting.uid.is_none() => setting.uid = Some(value.into_owned()),
                _ => {}
            }
        }
        match self.state.lock().expect("state lock").set_consumer_group_status(group_id, &setting, now_ms()) {
            Ok(report) => (200, serde_json::to_value(report).expect("report serialises")),
            Err(error) => {
                let status = if error.is_gateway() { 400 } else { 404 };
                (status, json!({"error": error.message, "code": error.code}))
            }
        }
    }

    /// `GET /_emulator/scripts/{token}`: the script a GetThingScript URL serves (as object
    /// storage answers a presigned URL: 403 once expired, 404 for an unknown one).
    fn script_download(&self, token: &str) -> Response<Full<Bytes>> {
        let id = request_id();
        let result = self.state.lock().expect("state lock").script_download(token, now_ms());
        match result {
            Ok(content) => json_response(200, &id, content, "text/plain;charset=utf-8"),
            Err(ScriptLinkError::Expired) => {
                json_response(403, &id, "AccessDenied: Request has expired.\n".into(), "text/plain")
            }
            Err(ScriptLinkError::Unknown) => {
                json_response(404, &id, "NoSuchKey: The specified key does not exist.\n".into(), "text/plain")
            }
        }
    }

    /// `GET` (no body) or `PUT` (a [`DeviceSetting`]) `/_emulator/devices/{productKey}`
    /// (`?iotInstanceId=` picks the instance too): the product's device counts, after the
    /// change.
    fn admin_devices(&self, product_key: &str, query: Option<&str>, put: Option<&[u8]>) -> (u16, Value) {
        let mut setting = match put {
            None => DeviceSetting::default(),
            Some(body) => match serde_json::from_slice::<DeviceSetting>(body) {
                Ok(setting) => setting,
                Err(e) => return (400, json!({"error": e.to_string()})),
            },
        };
        if setting.iot_instance_id.is_none() {
            setting.iot_instance_id = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "iotInstanceId")
                .map(|(_, v)| v.into_owned());
        }
        let change = DeviceChange {
            register: setting.register,
            at_least: 0,
            activated: setting.activated,
            online: setting.online,
        };
        let result = self.state.lock().expect("state lock").set_devices(
            None,
            setting.iot_instance_id.as_deref(),
            product_key,
            change,
            now_ms(),
        );
        match result {
            Ok(counts) => (200, serde_json::to_value(counts).expect("counts serialise")),
            Err(error) => {
                let status = if error.code == "iot.prod.NotExistedProduct" { 404 } else { 400 };
                (status, json!({"error": error.message, "code": error.code}))
            }
        }
    }

    /// Replaces the faults in force.
    pub fn set_faults(&self, faults: Faults) {
        self.faults.lock().expect("faults lock").set(faults);
    }

    /// The faults in force.
    #[must_use]
    pub fn faults(&self) -> Faults {
        self.faults.lock().expect("faults lock").faults().clone()
    }

    /// Serves `listener` as the endpoint of `region` until the task is dropped; over TLS
    /// when `tls` is given (the official credentials providers call STS over HTTPS only).
    ///
    /// # Errors
    /// Only when accepting connections fails.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        region: String,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<()> {
        let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            let (stream, peer) = listener.accept().await?;
            // Past the limit a connection waits to be served (in the kernel's backlog first).
            let Ok(permit) = connections.clone().acquire_owned().await else { continue };
            let _ = stream.set_nodelay(true);
            let emulator = self.clone();
            let region = region.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tls {
                    None => emulator.serve_connection(stream, peer, region, "http").await,
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await;
                        match handshake {
                            Ok(Ok(stream)) => emulator.serve_connection(stream, peer, region, "https").await,
                            Ok(Err(error)) => debug!(%error, "emulator TLS handshake failed"),
                            Err(_) => debug!("emulator TLS handshake timed out"),
                        }
                    }
                }
            });
        }
    }

    async fn serve_connection<S>(
        self: Arc<Self>,
        stream: S,
        peer: SocketAddr,
        region: String,
        scheme: &'static str,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let emulator = self;
        let service = service_fn(move |request| {
            let emulator = emulator.clone();
            let region = region.clone();
            async move {
                match emulator.answer(request, &region, peer, scheme).await {
                    Answer::Respond(response) => Ok(response),
                    Answer::Drop => Err(DroppedResponse),
                }
            }
        });
        if let Err(error) = http1::Builder::new()
            .keep_alive(true)
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service)
            .await
            && !error.to_string().contains("dropped by fault injection")
        {
            debug!(%error, "emulator connection ended");
        }
    }

    fn count(&self, action: &str, outcome: &str) {
        let mut stats = self.stats.lock().expect("stats lock");
        *stats.calls.entry(action.to_string()).or_default().entry(outcome.to_string()).or_default() += 1;
    }

    fn limiter(&self, uid: &str, action: &str) -> Option<Arc<DefaultDirectRateLimiter>> {
        if !self.rate_limit {
            return None;
        }
        let qps = quota::qps(action).unwrap_or(5);
        let rate = (f64::from(qps) * self.qps_scale).max(0.1);
        let mut limiters = self.limiters.lock().expect("limiters lock");
        let limiter = limiters.entry((uid.to_string(), action.to_string())).or_insert_with(|| {
            let burst = NonZeroU32::new((rate.ceil() as u32).max(1)).expect("at least one");
            let quota = Quota::with_period(Duration::from_secs_f64(1.0 / rate))
                .expect("positive period")
                .allow_burst(burst);
            Arc::new(RateLimiter::direct(quota))
        });
        Some(limiter.clone())
    }

    async fn answer(
        &self,
        request: Request<IncomingBody>,
        listener_region: &str,
        peer: SocketAddr,
        scheme: &'static str,
    ) -> Answer {
        let path = request.uri().path().to_string();
        if let Some(token) = path.strip_prefix(SCRIPT_PATH)
            && request.method() == Method::GET
        {
            return Answer::Respond(self.script_download(token));
        }
        if let Some(admin) = path.strip_prefix("/_emulator/") {
            // The admin view holds every ProductSecret: loopback clients only.
            if !admin_allowed(peer) {
                return Answer::Respond(
                    Response::builder()
                        .status(StatusCode::FORBIDDEN)
                        .header("content-type", "text/plain")
                        .body(Full::new(Bytes::from_static(
                            b"the admin endpoints answer loopback clients only\n",
                        )))
                        .expect("valid response"),
                );
            }
            return Answer::Respond(self.admin(admin, request).await);
        }
        let id = request_id();
        if path != "/" || !(request.method() == Method::GET || request.method() == Method::POST) {
            return Answer::Respond(gateway_error(
                &id,
                &ApiError::gateway(
                    404,
                    "InvalidAction.NotFound",
                    "Specified api is not found, please check your url and method.",
                ),
                false,
                "Error",
            ));
        }
        self.stats.lock().expect("stats lock").requests += 1;
        let (incoming, host) = match read_request(request).await {
            Ok(parsed) => parsed,
            Err(error) => return Answer::Respond(gateway_error(&id, &error, false, "Error")),
        };
        let region = region_of_host(&host).unwrap_or_else(|| listener_region.to_string());
        let now = now_ms();
        if is_anonymous_oidc(&incoming) {
            return Answer::Respond(self.assume_role_with_oidc(&incoming, &id, now));
        }
        let authenticated = {
            let mut nonces = self.nonces.lock().expect("nonce lock");
            let sts = self.sts.lock().expect("sts lock");
            gateway::authenticate(&incoming, &Keys { fixed: &self.keys, sts: &sts }, &mut nonces, now)
        };
        let call = match authenticated {
            Ok(call) => call,
            Err(error) => {
                {
                    let mut stats = self.stats.lock().expect("stats lock");
                    stats.refused_signatures += 1;
                    *stats.refused.entry(error.code.clone()).or_default() += 1;
                }
                warn!(%peer, code = %error.code, "emulator refused a request at the gateway");
                return Answer::Respond(gateway_error(&id, &error, false, "Error"));
            }
        };
        if call.version == STS_VERSION {
            return Answer::Respond(self.sts_call(&call, &id, now));
        }
        let action = call.action.clone();
        let root = format!("{action}Response");
        let decision = self.faults.lock().expect("faults lock").decide(&action, now);
        let limited = self.limiter(&call.key.uid, &action).is_some_and(|l| l.check().is_err());
        if decision.throttle || limited {
            self.stats.lock().expect("stats lock").throttled += 1;
            self.count(&action, "Throttling.User");
            let error =
                ApiError::gateway(429, "Throttling.User", "Request was denied due to user flow control.");
            return Answer::Respond(gateway_error(&id, &error, call.wants_xml, "Error"));
        }
        let latency = self.faults.lock().expect("faults lock").latency_ms();
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if let Some(kind) = decision.error {
            self.stats.lock().expect("stats lock").injected_errors += 1;
            let error = injected_error(kind);
            self.count(&action, &error.code);
            return Answer::Respond(respond_error(&id, &error, call.wants_xml, &root));
        }
        let context = CallContext {
            uid: call.key.uid.clone(),
            logon_id: call.key.logon_id.clone(),
            region,
            now_ms: now,
            fail_distribution: decision.fail_distribution,
        };
        let (result, topic_product) = {
            let mut state = self.state.lock().expect("state lock");
            // A topic write names only the topic: its product is looked up first (a delete
            // removes it).
            let topic_product = call.params.get("TopicId").and_then(|id| state.product_of_topic(id));
            (state.handle(&context, &action, &call.params), topic_product)
        };
        self.count(&action, result.as_ref().map_or_else(|e| e.code.as_str(), |_| "Success"));
        if result.is_ok() && !is_read(&action) {
            let subject = ["ProductKey", "ProductName", "GroupName", "GroupId"]
                .iter()
                .find_map(|name| call.params.get(name))
                .map(str::to_string)
                .or(topic_product)
                .unwrap_or_default();
            let mut stats = self.stats.lock().expect("stats lock");
            if stats.writes.len() >= MAX_WRITES_KEPT {
                stats.writes.remove(0);
            }
            stats.writes.push(Write { action: action.clone(), subject });
        }
        debug!(action = %action, uid = %context.uid, request_id = %id,
            outcome = result.as_ref().map_or_else(|e| e.code.as_str(), |_| "Success"), "emulator call");
        if decision.lose_response {
            self.stats.lock().expect("stats lock").lost_responses += 1;
            return Answer::Drop;
        }
        if let Some(kind) = decision.fail_after_commit {
            self.stats.lock().expect("stats lock").failed_after_commit += 1;
            return Answer::Respond(respond_error(&id, &injected_error(kind), call.wants_xml, &root));
        }
        Answer::Respond(match result {
            Ok(mut body) => {
                if action == <iot_platform::model::GetThingScript as iot_platform::Operation>::ACTION {
                    absolute_script_url(&mut body, scheme, &host);
                }
                success(&id, body, call.wants_xml, &root)
            }
            Err(error) => respond_error(&id, &error, call.wants_xml, &root),
        })
    }

    /// Refuses a call over the account's quota for `action` (`Throttling.User`).
    fn throttled(&self, uid: &str, action: &str) -> Option<ApiError> {
        if self.limiter(uid, action).is_some_and(|l| l.check().is_err()) {
            self.stats.lock().expect("stats lock").throttled += 1;
            self.count(action, "Throttling.User");
            return Some(ApiError::gateway(
                429,
                "Throttling.User",
                "Request was denied due to user flow control.",
            ));
        }
        None
    }

    /// A signed STS call (`AssumeRole`).
    fn sts_call(&self, call: &gateway::Authenticated, id: &str, now: i64) -> Response<Full<Bytes>> {
        if let Some(error) = self.throttled(&call.key.uid, &call.action) {
            return sts_answer(id, Err(error));
        }
        let result = match call.action.as_str() {
            "AssumeRole" => self.sts.lock().expect("sts lock").assume_role(&call.key, &call.params, now),
            _ => Err(ApiError::gateway(
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )),
        };
        self.count(&call.action, result.as_ref().map_or_else(|e| e.code.as_str(), |_| "Success"));
        sts_answer(id, result)
    }

    /// `AssumeRoleWithOIDC`, which is not signed: the token is the proof.
    fn assume_role_with_oidc(&self, incoming: &Incoming, id: &str, now: i64) -> Response<Full<Bytes>> {
        const ACTION: &str = "AssumeRoleWithOIDC";
        let params = Params::from_pairs(incoming.query.iter().chain(incoming.form.iter()).cloned());
        let version = params.get("Version").or_else(|| incoming.header("x-acs-version")).unwrap_or_default();
        if version != STS_VERSION {
            let error = ApiError::gateway(
                400,
                "InvalidVersion",
                format!("Specified parameter Version is not valid: {version}"),
            );
            return sts_answer(id, Err(error));
        }
        let uid = params
            .get("RoleArn")
            .and_then(|arn| arn.strip_prefix("acs:ram::"))
            .and_then(|r| r.split(':').next())
            .unwrap_or_default()
            .to_string();
        if let Some(error) = self.throttled(&uid, ACTION) {
            return sts_answer(id, Err(error));
        }
        let result = self.sts.lock().expect("sts lock").assume_role_with_oidc(&params, now);
        self.count(ACTION, result.as_ref().map_or_else(|e| e.code.as_str(), |_| "Success"));
        if let Err(error) = &result {
            debug!(code = %error.code, "emulator STS refused AssumeRoleWithOIDC");
        }
        sts_answer(id, result)
    }

    async fn admin(&self, path: &str, request: Request<IncomingBody>) -> Response<Full<Bytes>> {
        let id = request_id();
        let ok = |value: Value| json_response(200, &id, value.to_string(), "application/json;charset=utf-8");
        match (request.method().clone(), path) {
            (Method::GET, "healthz") => ok(json!({"ok": true})),
            (Method::GET, "state") => ok(json!({"state": self.snapshot(), "stats": self.stats()})),
            (Method::GET, "faults") => ok(serde_json::to_value(self.faults()).expect("faults serialise")),
            (method, devices)
                if devices.starts_with("devices/") && (method == Method::GET || method == Method::PUT) =>
            {
                let product_key = devices["devices/".len()..].to_string();
                let query = request.uri().query().map(str::to_string);
                let body = if method == Method::PUT {
                    match Limited::new(request.into_body(), MAX_BODY).collect().await {
                        Ok(body) => Some(body.to_bytes()),
                        Err(e) => {
                            return json_response(
                                400,
                                &id,
                                json!({"error": e.to_string()}).to_string(),
                                "application/json",
                            );
                        }
                    }
                } else {
                    None
                };
                let (status, value) = self.admin_devices(&product_key, query.as_deref(), body.as_deref());
                json_response(status, &id, value.to_string(), "application/json;charset=utf-8")
            }
            (method, groups)
                if groups.starts_with("consumer-groups/")
                    && groups.ends_with("/status")
                    && (method == Method::GET || method == Method::PUT) =>
            {
                let group_id = groups["consumer-groups/".len()..groups.len() - "/status".len()].to_string();
                let query = request.uri().query().map(str::to_string);
                let body = if method == Method::PUT {
                    match Limited::new(request.into_body(), MAX_BODY).collect().await {
                        Ok(body) => Some(body.to_bytes()),
                        Err(e) => {
                            return json_response(
                                400,
                                &id,
                                json!({"error": e.to_string()}).to_string(),
                                "application/json",
                            );
                        }
                    }
                } else {
                    None
                };
                let (status, value) = self.admin_group_status(&group_id, query.as_deref(), body.as_deref());
                json_response(status, &id, value.to_string(), "application/json;charset=utf-8")
            }
            (Method::GET, "sts") => ok(serde_json::to_value(self.sts_config()).expect("sts serialises")),
            (Method::PUT, "sts") => {
                let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(e) => {
                        return json_response(
                            400,
                            &id,
                            json!({"error": e.to_string()}).to_string(),
                            "application/json",
                        );
                    }
                };
                match serde_json::from_slice::<StsConfig>(&body) {
                    Ok(config) => {
                        self.set_sts(config.clone());
                        ok(serde_json::to_value(config).expect("sts serialises"))
                    }
                    Err(e) => json_response(
                        400,
                        &id,
                        json!({"error": e.to_string()}).to_string(),
                        "application/json",
                    ),
                }
            }
            (Method::PUT, "faults") => {
                let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(e) => {
                        return json_response(
                            400,
                            &id,
                            json!({"error": e.to_string()}).to_string(),
                            "application/json",
                        );
                    }
                };
                match serde_json::from_slice::<Faults>(&body) {
                    Ok(faults) => {
                        self.set_faults(faults.clone());
                        ok(serde_json::to_value(faults).expect("faults serialise"))
                    }
                    Err(e) => json_response(
                        400,
                        &id,
                        json!({"error": e.to_string()}).to_string(),
                        "application/json",
                    ),
                }
            }
            _ => json_response(
                404,
                &id,
                json!({"error": "unknown admin endpoint"}).to_string(),
                "application/json",
            ),
        }
    }
}

/// The body of `PUT /_emulator/devices/{productKey}`: register `register` more devices,
/// then make the first `activated` activated and the first `online` online (registration
/// order; an absent count keeps the current one). `iotInstanceId` picks the instance when
/// the key is in several (a distributed copy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceSetting {
    /// Devices to register.
    #[serde(default)]
    pub register: usize,
    /// Activated devices afterwards.
    #[serde(default)]
    pub activated: Option<usize>,
    /// Online devices afterwards.
    #[serde(default)]
    pub online: Option<usize>,
    /// The instance, when the key is in several.
    #[serde(default)]
    pub iot_instance_id: Option<String>,
}

/// The gateway's keys: the configured ones, and the temporary ones STS issued.
struct Keys<'a> {
    fixed: &'a [AccessKey],
    sts: &'a Sts,
}

impl KeyLookup for Keys<'_> {
    fn find(&self, id: &str, now_ms: i64) -> Result<AccessKey, ApiError> {
        if let Some(key) = self.fixed.iter().find(|k| k.id == id) {
            return Ok(key.clone());
        }
        self.sts.key(id, now_ms).map_err(|e| match e {
            TemporaryKey::Unknown => gateway::key_not_found(),
            TemporaryKey::Expired => {
                ApiError::gateway(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
            }
        })
    }
}

/// Whether a request is an unsigned `AssumeRoleWithOIDC` (no AccessKey, no signature).
fn is_anonymous_oidc(incoming: &Incoming) -> bool {
    let param = |name: &str| {
        incoming.query.iter().chain(incoming.form.iter()).find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    };
    let action = param("Action").or_else(|| incoming.header("x-acs-action"));
    action == Some("AssumeRoleWithOIDC")
        && param("AccessKeyId").is_none()
        && incoming.header("authorization").is_none()
}

/// An STS answer: the body and `RequestId` (STS answers carry no `Success`), or an error.
fn sts_answer(id: &str, result: Result<Value, ApiError>) -> Response<Full<Bytes>> {
    match result {
        Ok(Value::Object(mut map)) => {
            map.insert("RequestId".into(), json!(id));
            json_response(200, id, Value::Object(map).to_string(), "application/json;charset=utf-8")
        }
        Ok(_) => {
            json_response(200, id, json!({"RequestId": id}).to_string(), "application/json;charset=utf-8")
        }
        Err(error) => {
            let body = json!({
                "RequestId": id,
                "HostId": "sts.aliyuncs.com",
                "Code": error.code,
                "Message": error.message,
                "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&product=Sts&requestId={id}", error.code),
            });
            json_response(error.http_status, id, body.to_string(), "application/json;charset=utf-8")
        }
    }
}

async fn read_request(request: Request<IncomingBody>) -> Result<(Incoming, String), ApiError> {
    let method = request.method().to_string();
    let query = request.uri().query().map(str::to_string);
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
        .collect();
    let body = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            ApiError::gateway(400, "InvalidParameter", "The request body is too large or unreadable.")
        })?
        .to_bytes()
        .to_vec();
    let incoming = Incoming::from_parts(&method, query.as_deref(), headers, body);
    let host = incoming.header("host").unwrap_or_default().to_string();
    Ok((incoming, host))
}

/// Makes GetThingScript's `ScriptUrl` (a path on this listener) absolute, with the scheme and
/// the `Host` the call came to.
fn absolute_script_url(body: &mut Value, scheme: &str, host: &str) {
    if let Some(Value::String(url)) = body.pointer_mut("/Data/ScriptUrl")
        && url.starts_with('/')
    {
        *url = format!("{scheme}://{host}{url}");
    }
}

fn render(status: u16, id: &str, body: Value, wants_xml: bool, root: &str) -> Response<Full<Bytes>> {
    if wants_xml {
        json_response(status, id, xml::render(root, &body), "text/xml;charset=utf-8")
    } else {
        json_response(status, id, body.to_string(), "application/json;charset=utf-8")
    }
}

fn success(id: &str, body: Value, wants_xml: bool, root: &str) -> Response<Full<Bytes>> {
    let mut map = match body {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    map.insert("RequestId".into(), json!(id));
    map.insert("Success".into(), json!(true));
    render(200, id, Value::Object(map), wants_xml, root)
}

fn respond_error(id: &str, error: &ApiError, wants_xml: bool, root: &str) -> Response<Full<Bytes>> {
    if error.is_gateway() {
        return gateway_error(id, error, wants_xml, "Error");
    }
    let mut map = Map::new();
    map.insert("RequestId".into(), json!(id));
    map.insert("Success".into(), json!(false));
    map.insert("Code".into(), json!(error.code));
    map.insert("ErrorMessage".into(), json!(error.message));
    if let Some(Value::Object(extra)) = &error.extra {
        map.extend(extra.clone());
    }
    render(200, id, Value::Object(map), wants_xml, root)
}

fn gateway_error(id: &str, error: &ApiError, wants_xml: bool, root: &str) -> Response<Full<Bytes>> {
    let body = json!({
        "RequestId": id,
        "HostId": "iot.aliyuncs.com",
        "Code": error.code,
        "Message": error.message,
        "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}&product=Iot&requestId={id}", error.code),
    });
    render(error.http_status, id, body, wants_xml, root)
}

/// Binds `addr` and serves it (plain HTTP) as the endpoint of `region` in a background task; returns
/// the bound address (useful with port 0).
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn(emulator: Arc<Emulator>, addr: SocketAddr, region: &str) -> std::io::Result<SocketAddr> {
    spawn_with(emulator, addr, region, None).await
}

/// Like [`spawn`], over TLS when `tls` is given.
///
/// # Errors
/// When the address cannot be bound.
pub async fn spawn_with(
    emulator: Arc<Emulator>,
    addr: SocketAddr,
    region: &str,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let region = region.to_string();
    tokio::spawn(async move {
        if let Err(error) = emulator.serve(listener, region, tls).await {
            warn!(%error, "emulator listener stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_clients_reach_the_admin_endpoints() {
        assert!(admin_allowed("127.0.0.1:5000".parse().unwrap()));
        assert!(admin_allowed("[::1]:5000".parse().unwrap()));
        assert!(!admin_allowed("10.0.0.7:5000".parse().unwrap()));
        assert!(!admin_allowed("192.168.1.20:5000".parse().unwrap()));
    }

    /// A product "Lamp" of account 1001 made in the console; its key.
    fn lamp(emulator: &Emulator) -> String {
        let created = emulator
            .console("1001", "CreateProduct", &[("ProductName", "Lamp"), ("NodeType", "0")])
            .expect("created");
        created["ProductKey"].as_str().expect("a key").to_string()
    }

    #[test]
    fn the_device_operations_are_held_to_their_documented_qps() {
        let emulator = Emulator::new(EmulatorConfig::default());
        for (action, qps) in [("RegisterDevice", 30), ("QueryDeviceStatistics", 50)] {
            assert_eq!(quota::qps(action), Some(qps), "{action}");
            let limiter = emulator.limiter("1001", action).expect("rate limited");
            let passed = (0..qps * 2).take_while(|_| limiter.check().is_ok()).count();
            // A burst of the documented QPS, then throttled (a little slack for a thread
            // descheduled mid-loop, during which the bucket refills).
            let qps = qps as usize;
            assert!((qps..qps + qps / 2).contains(&passed), "{action}: {passed} calls passed");
            let other = emulator.limiter("2002", action).expect("rate limited");
            assert!(other.check().is_ok(), "{action}: each account has its own budget");
        }
        let unlimited = Emulator::new(EmulatorConfig { rate_limit: false, ..EmulatorConfig::default() });
        assert!(unlimited.limiter("1001", "RegisterDevice").is_none());
    }

    #[test]
    fn set_devices_and_the_console_register_devices() {
        let emulator = Emulator::new(EmulatorConfig::default());
        let key = lamp(&emulator);
        let registered = emulator
            .console("1001", "RegisterDevice", &[("ProductKey", &key), ("DeviceName", "lamp-1")])
            .expect("registered in the console");
        assert_eq!(registered["Data"]["DeviceName"], "lamp-1");
        emulator.set_devices("1001", &key, 5, 3, 1).expect("set");
        let statistics =
            emulator.console("1001", "QueryDeviceStatistics", &[("ProductKey", &key)]).expect("counted");
        assert_eq!(statistics["Data"], json!({"deviceCount": 5, "activeCount": 3, "onlineCount": 1}));
        let product = emulator.console("1001", "QueryProduct", &[("ProductKey", &key)]).expect("queried");
        assert_eq!(product["Data"]["DeviceCount"], 5);
        let refused = emulator.set_devices("1001", &key, 5, 2, 3).expect_err("online > activated");
        assert_eq!(refused.code, "InvalidParameter");
        let missing = emulator.set_devices("2002", &key, 1, 0, 0).expect_err("another account's");
        assert_eq!(missing.code, "iot.prod.NotExistedProduct");
    }

    #[test]
    fn the_admin_devices_endpoint_registers_and_sets_flags() {
        let emulator = Emulator::new(EmulatorConfig::default());
        let key = lamp(&emulator);
        let (status, body) =
            emulator.admin_devices(&key, None, Some(br#"{"register": 4, "activated": 2, "online": 1}"#));
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"productKey": key, "iotInstanceId": "iotx-oxssharez200",
                   "deviceCount": 4, "activeCount": 2, "onlineCount": 1})
        );
        let (status, body) = emulator.admin_devices(&key, None, Some(br#"{"register": 1}"#));
        assert_eq!((status, &body["deviceCount"], &body["activeCount"]), (200, &json!(5), &json!(2)));
        let (status, body) = emulator.admin_devices(&key, Some("iotInstanceId=iotx-oxssharez200"), None);
        assert_eq!((status, &body["deviceCount"]), (200, &json!(5)), "GET reads the counts");
        for bad in [&br#"{"online": 3}"#[..], br#"{"activated": 6}"#, br#"{"devices": 1}"#, b"nope"] {
            let (status, body) = emulator.admin_devices(&key, None, Some(bad));
            assert_eq!(status, 400, "{body}");
        }
        let (status, body) = emulator.admin_devices("a1NoSuchKey", None, Some(br#"{"register": 1}"#));
        assert_eq!((status, &body["code"]), (404, &json!("iot.prod.NotExistedProduct")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_admin_devices_endpoint_is_served_over_http() {
        let emulator = Emulator::new(EmulatorConfig::default());
        let key = lamp(&emulator);
        let addr = spawn(emulator.clone(), "127.0.0.1:0".parse().unwrap(), "cn-shanghai").await.unwrap();
        let path = format!("/_emulator/devices/{key}");
        let response = tokio::task::spawn_blocking(move || {
            use std::io::{Read as _, Write as _};
            let body = r#"{"register": 3, "activated": 2, "online": 2}"#;
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            write!(
                stream,
                "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        })
        .await
        .unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.contains(r#""deviceCount":3"#), "{response}");
        let product = emulator.console("1001", "QueryProduct", &[("ProductKey", &key)]).unwrap();
        assert_eq!(product["Data"]["DeviceCount"], 3);
        assert_eq!(emulator.snapshot().products[0].devices.iter().filter(|d| d.online).count(), 2);
    }

    #[test]
    fn endpoint_hosts_name_their_region() {
        assert_eq!(region_of_host("iot.ap-southeast-1.aliyuncs.com"), Some("ap-southeast-1".into()));
        assert_eq!(region_of_host("iot-vpc.cn-beijing.aliyuncs.com:443"), Some("cn-beijing".into()));
        assert_eq!(region_of_host("127.0.0.1:18080"), None);
        assert_eq!(region_of_host("iot.a.b.aliyuncs.com"), None);
    }

    /// Sends one raw HTTP/1.1 request to `addr`; the whole answer (status line, headers, body).
    async fn raw_http(addr: SocketAddr, method: &'static str, path: String, body: &'static str) -> String {
        tokio::task::spawn_blocking(move || {
            use std::io::{Read as _, Write as _};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            write!(
                stream,
                "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        })
        .await
        .unwrap()
    }

    #[test]
    fn the_topic_script_and_subscription_operations_are_held_to_their_documented_qps() {
        let emulator = Emulator::new(EmulatorConfig::default());
        for (action, qps) in [("CreateProductTopic", 1), ("QueryProductTopic", 3), ("CreateConsumerGroup", 5)]
        {
            let limiter = emulator.limiter("1001", action).expect("rate limited");
            let passed = (0..qps * 4).take_while(|_| limiter.check().is_ok()).count();
            assert_eq!(passed, qps as usize, "{action}: a burst of the documented QPS, then throttled");
        }
    }

    #[test]
    fn script_urls_are_made_absolute_with_the_callers_host() {
        let mut body = json!({"Data": {"ScriptType": "JavaScript", "ScriptUrl": "/_emulator/scripts/abc"}});
        absolute_script_url(&mut body, "https", "127.0.0.1:8443");
        assert_eq!(body["Data"]["ScriptUrl"], "https://127.0.0.1:8443/_emulator/scripts/abc");
        let mut none = json!({});
        absolute_script_url(&mut none, "http", "h");
        assert_eq!(none, json!({}));
    }

    #[test]
    fn the_admin_consumer_group_endpoint_sets_and_reads_a_status() {
        let emulator = Emulator::new(EmulatorConfig::default());
        let created = emulator.console("1001", "CreateConsumerGroup", &[("GroupName", "orders")]).unwrap();
        let id = created["GroupId"].as_str().unwrap().to_string();
        let (status, body) = emulator.admin_group_status(
            &id,
            None,
            Some(br#"{"accumulationCount": 7, "onlineClients": 3, "consumerSpeed": 60}"#),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"groupId": id, "uid": "1001", "iotInstanceId": "iotx-oxssharez200",
                   "accumulationCount": 7, "onlineClients": 3, "consumerSpeed": 60})
        );
        let (status, body) = emulator.admin_group_status(&id, None, None);
        assert_eq!((status, &body["onlineClients"]), (200, &json!(3)), "GET reads it");
        for bad in [&br#"{"onlineClients": 65}"#[..], br#"{"clients": 1}"#, b"nope"] {
            assert_eq!(emulator.admin_group_status(&id, None, Some(bad)).0, 400);
        }
        let (status, body) = emulator.admin_group_status("nope", None, Some(b"{}"));
        assert_eq!((status, &body["code"]), (404, &json!("iot.consumergroup.NotExistedGroup")));
        // Another account's instance has its default group too.
        emulator
            .console("2002", "QueryConsumerGroupList", &[("CurrentPage", "1"), ("PageSize", "10")])
            .unwrap();
        let (status, _) =
            emulator.admin_group_status("DEFAULT_GROUP", None, Some(br#"{"accumulationCount": 1}"#));
        assert_eq!(status, 400, "the default group needs its account and instance");
        let (status, _) = emulator.admin_group_status(
            "DEFAULT_GROUP",
            Some("uid=1001&iotInstanceId=iotx-oxssharez200"),
            Some(br#"{"accumulationCount": 1}"#),
        );
        assert_eq!(status, 200);

        emulator
            .set_consumer_group_status(
                "1001",
                &id,
                GroupStatusSetting { accumulation_count: Some(0), ..GroupStatusSetting::default() },
            )
            .expect("set in process");
        let read = emulator.console("1001", "QueryConsumerGroupStatus", &[("GroupId", &id)]).unwrap();
        assert_eq!((&read["AccumulationCount"], &read["ConsumerSpeed"]), (&json!(0), &json!(60)));
        let foreign = emulator.set_consumer_group_status("2002", &id, GroupStatusSetting::default());
        assert_eq!(foreign.unwrap_err().code, "iot.consumergroup.NotExistedGroup");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_rust_client_drives_topics_scripts_and_subscriptions_over_http() {
        use iot_platform::model as m;
        let config = EmulatorConfig {
            access_keys: vec![AccessKey::parse("ak:sk:1001:owner@example.com").unwrap()],
            ..EmulatorConfig::default()
        };
        let emulator = Emulator::new(config);
        let addr = spawn(emulator.clone(), "127.0.0.1:0".parse().unwrap(), "cn-shanghai").await.unwrap();
        let url = format!("http://{addr}");
        let http = iot_platform::http::HttpPlatform::new(
            iot_platform::http::http_client(),
            iot_platform::http::Endpoints::resolve(
                &iot_platform::endpoint_policy::EndpointPolicy::new(["http://127.0.0.1:*"]).unwrap(),
                "cn-shanghai",
                Some(&url),
                None,
            )
            .unwrap(),
            iot_platform::Credentials::new("ak", "sk", None),
            iot_platform::sign::SignatureVersion::V3,
            Arc::new(iot_platform::ratelimit::AccountLimiter::new(0.9)),
        );
        let platform: &dyn iot_platform::IotPlatform = &http;
        let created = platform
            .call(&m::CreateProduct {
                product_name: "Meter_01".into(),
                node_type: 0,
                aliyun_commodity_code: Some("iothub_senior".into()),
                data_format: Some(0),
                ..m::CreateProduct::default()
            })
            .await
            .expect("product");
        let key = created.product_key.expect("key");

        let topic = platform
            .call(&m::CreateProductTopic {
                product_key: key.clone(),
                topic_short_name: "cmd/+".into(),
                operation: m::TOPIC_SUB.into(),
                enable_proxy_subscribe: Some(true),
                ..m::CreateProductTopic::default()
            })
            .await
            .expect("topic");
        let topic_id = topic.topic_id.expect("an id");
        let listed = platform
            .call(&m::QueryProductTopic { iot_instance_id: None, product_key: key.clone() })
            .await
            .expect("listed");
        let info = &listed.data.expect("data").product_topic_info[0];
        assert_eq!((info.id.as_str(), info.operation.as_str()), (topic_id.as_str(), "1"));

        let script = m::CreateThingScript {
            iot_instance_id: None,
            product_key: key.clone(),
            script_type: m::SCRIPT_JAVASCRIPT.into(),
            script_content: "var a = 1;".into(),
        };
        platform.call(&script).await.expect("script");
        let read = platform
            .call(&m::GetThingScript { iot_instance_id: None, product_key: key.clone() })
            .await
            .expect("read")
            .data
            .expect("a script");
        let prefix = format!("http://{addr}/_emulator/scripts/");
        let path = read.script_url.strip_prefix(&prefix).map(|token| format!("/_emulator/scripts/{token}"));
        let path = path.unwrap_or_else(|| panic!("{} is on this listener", read.script_url));
        let downloaded = raw_http(addr, "GET", path, "").await;
        assert!(downloaded.starts_with("HTTP/1.1 200"), "{downloaded}");
        assert!(downloaded.ends_with("var a = 1;"), "{downloaded}");
        let unknown = raw_http(addr, "GET", "/_emulator/scripts/0000".into(), "").await;
        assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");

        let group = platform
            .call(&m::CreateConsumerGroup { iot_instance_id: None, group_name: "orders".into() })
            .await
            .expect("group")
            .group_id
            .expect("id");
        platform
            .call(&m::CreateSubscribeRelation {
                product_key: key.clone(),
                subscribe_type: m::SUBSCRIBE_AMQP.into(),
                consumer_group_ids: vec![group.clone(), m::DEFAULT_CONSUMER_GROUP.into()],
                device_data_flag: Some(true),
                ..m::CreateSubscribeRelation::default()
            })
            .await
            .expect("subscription");
        let relation = platform
            .call(&m::QuerySubscribeRelation {
                iot_instance_id: None,
                product_key: key.clone(),
                subscribe_type: m::SUBSCRIBE_AMQP.into(),
            })
            .await
            .expect("queried");
        assert_eq!(relation.consumer_group_ids, vec![group.clone(), m::DEFAULT_CONSUMER_GROUP.to_string()]);
        assert!(relation.device_data_flag && !relation.device_tag_flag);

        let put = raw_http(
            addr,
            "PUT",
            format!("/_emulator/consumer-groups/{group}/status"),
            r#"{"accumulationCount": 42, "onlineClients": 1, "consumerSpeed": 6}"#,
        )
        .await;
        assert!(put.starts_with("HTTP/1.1 200"), "{put}");
        let status = platform
            .call(&m::QueryConsumerGroupStatus { iot_instance_id: None, group_id: group.clone() })
            .await
            .expect("status");
        assert_eq!((status.accumulation_count, status.consumer_speed), (42, 6));
        let clients =
            status.client_connection_status_list.expect("clients").consumer_group_client_connection_info;
        assert_eq!(clients.len(), 1);
        let page = platform
            .call(&m::QueryConsumerGroupList {
                current_page: 1,
                page_size: 10,
                ..m::QueryConsumerGroupList::default()
            })
            .await
            .expect("listed");
        assert_eq!(page.total, 2, "the default group and ours");
        assert_eq!(page.data.expect("data").consumer_group_dto[1].group_id, group);
    }
}
