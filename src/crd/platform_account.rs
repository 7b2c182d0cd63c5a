//! `PlatformAccount`: how to reach one IoT Platform account (cluster-scoped).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;

/// The characters an endpoint may not have (the CEL form of the textual checks of
/// `iot_platform::endpoint_policy::parse_endpoint`): a backslash, `@`, `%`, `?`, `#`, white
/// space, control and non-ASCII characters. `tests/crds.rs` runs the policy's spellings
/// through the API server, so the two cannot drift apart.
pub const ENDPOINT_CHARACTERS_RULE: &str = r"!self.matches(r'[\\@%?#\s]') && self.matches(r'^[!-~]*$')";

/// The shape of an endpoint (the CEL form of the rest of `parse_endpoint`): `http(s)://`, a
/// host name of letters, digits, `-`, `_` and non-empty dot-separated labels (no trailing
/// dot) whose last label is not a number (a URL parser reads `2130706433` or `0x7f.1` as an
/// IPv4 address), an IPv4 address in dotted-decimal form or an IPv6 address in brackets, an
/// optional port without leading zeros, and an optional trailing slash.
pub const ENDPOINT_SHAPE_RULE: &str = r"self.matches(r'^(?i)https?://([a-z0-9_-]+(\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])(:[1-9][0-9]{0,4})?/?$') && (!self.matches(r'^(?i)https?://([a-z0-9_-]+\.)*(0x[0-9a-f]*|[0-9]+)(:[0-9]+)?/?$') || self.matches(r'^https?://((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(:[0-9]+)?/?$'))";

/// How to reach one Alibaba Cloud IoT Platform account: its region, an optional endpoint,
/// the default instance, the Secret that holds its AccessKey, and which namespaces may use
/// it.
///
/// Products and distributions name an account with `spec.accountRef.name`; the account
/// named `default` is used when they name none. Only namespaces selected by
/// `spec.allowedNamespaces` may use it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "iot.productoperator.dev",
    version = "v1alpha1",
    kind = "PlatformAccount",
    plural = "platformaccounts",
    singular = "platformaccount",
    shortname = "iotacct",
    category = "iot",
    status = "PlatformAccountStatus",
    derive = "PartialEq",
    doc = "How the operator reaches one Alibaba Cloud IoT Platform account: region, endpoint, default instance, the Secret holding its AccessKey, and which namespaces may use it. Products name it in spec.accountRef; the one named `default` is used when they name none.",
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
    printcolumn(name = "Instance", type_ = "string", json_path = ".spec.instanceId"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Products",
        type_ = "integer",
        json_path = ".status.productCount",
        description = "IotProducts using this account"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct PlatformAccountSpec {
    /// The region of the IoT Platform (for example `cn-shanghai`, `ap-southeast-1`). The
    /// endpoint is `https://iot.<region>.aliyuncs.com` unless `endpoint` is set.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z]+(-[a-z0-9]+)+$')").message("spec.region must be an Alibaba Cloud region id such as cn-shanghai or ap-southeast-1"))]
    pub region: String,

    /// An endpoint URL to use instead of `https://iot.<region>.aliyuncs.com`, for example a
    /// VPC endpoint (`https://iot-vpc.cn-shanghai.aliyuncs.com`) or the project's emulator
    /// (`http://127.0.0.1:18080`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new(ENDPOINT_CHARACTERS_RULE).message("spec.endpoint must not contain a backslash, '@' (userinfo), '%' (a percent-escape), '?', '#', white space, control or non-ASCII characters: a URL parser reads them differently from how they look"))]
    #[x_kube(validation = Rule::new(ENDPOINT_SHAPE_RULE).message("spec.endpoint must be scheme://host[:port] only (http or https; a host name of letters, digits, '-', '_' and dots, not ending with a dot, or an IP address written in its usual form), such as https://iot-vpc.cn-shanghai.aliyuncs.com"))]
    pub endpoint: Option<String>,

    /// An endpoint URL for the distribution operations, which the platform serves only at
    /// cn-shanghai. Defaults to `endpoint` when the account is in cn-shanghai, else to
    /// `https://iot.cn-shanghai.aliyuncs.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new(ENDPOINT_CHARACTERS_RULE).message("spec.distributionEndpoint must not contain a backslash, '@' (userinfo), '%' (a percent-escape), '?', '#', white space, control or non-ASCII characters: a URL parser reads them differently from how they look"))]
    #[x_kube(validation = Rule::new(ENDPOINT_SHAPE_RULE).message("spec.distributionEndpoint must be scheme://host[:port] only (http or https; a host name of letters, digits, '-', '_' and dots, not ending with a dot, or an IP address written in its usual form), such as https://iot.cn-shanghai.aliyuncs.com"))]
    pub distribution_endpoint: Option<String>,

    /// The instance products use when they do not name one (for example
    /// `iot-cn-2r42x0g0f01`). When unset, the region's public instance is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^iotx?-[0-9a-z][-0-9a-z]*$')").message("spec.instanceId must be an IoT Platform instance id such as iot-cn-2r42x0g0f01 (iotx-oxssharez200 is the cn-shanghai public instance)"))]
    pub instance_id: Option<String>,

    /// Where the credentials come from: a static AccessKey Secret, the operator's OIDC
    /// token (RRSA), or a role assumed with base credentials.
    pub credentials: CredentialsSource,

    /// The request signature scheme: `V3` (ACS3-HMAC-SHA256, the default, recommended by
    /// Alibaba Cloud) or `V1` (the RPC HMAC-SHA1 signature).
    #[serde(default)]
    pub signature_version: SignatureVersion,

    /// The namespaces whose IotProducts and ProductDistributions may use this account. A
    /// resource in any other namespace is refused (reason AccountNotAllowed) and nothing is
    /// done on the platform for it. Unset allows no namespace; `selector: {}` allows every
    /// namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<NamespaceSelection>,

    /// Taking over products this operator did not create: by `spec.productKey`, by name
    /// (`spec.adoptionPolicy: ByName`), or observing one (`spec.managementPolicy:
    /// ObserveOnly`), and distributing a product by key. Only the namespaces selected here
    /// may; unset, none may. A product whose ownership tags name another resource or cluster
    /// is never taken over, whatever this says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take_over: Option<TakeOver>,

    /// How many of the account's distribution tasks (the platform allows 10 per account)
    /// the ProductDistributions of one namespace may hold at a time, so that one namespace
    /// cannot take them all. Default 3.
    #[serde(default = "default_distribution_tasks_per_namespace")]
    #[schemars(range(min = 1, max = 10))]
    pub distribution_tasks_per_namespace: u8,

    /// When an action that reaches a product's devices (revoking publication, changing a
    /// published thing model, deleting the product) needs a person's approval (the
    /// annotation `iot.productoperator.dev/approve-impact: "<generation>"`). Default: as soon
    /// as one device would be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_approval: Option<ImpactApproval>,
}

fn default_distribution_tasks_per_namespace() -> u8 {
    3
}

/// The device count above which an action needs approval.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImpactApproval {
    /// Revoking or re-modelling a product with more activated devices than this, or deleting
    /// one with more devices than this, needs approval. Default 0.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub activated_devices_above: i32,
}

impl PlatformAccountSpec {
    /// The device count above which an action needs approval.
    #[must_use]
    pub fn impact_threshold(&self) -> i64 {
        self.impact_approval.as_ref().map_or(0, |a| i64::from(a.activated_devices_above))
    }
}

/// A set of namespaces: by name, by label, or both (a namespace selected by either is in).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelection {
    /// Namespaces by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 63)))]
    #[x_kube(validation = Rule::new("self.all(n, n.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("each of names must be a namespace name: lower-case letters, digits and '-', starting and ending with a letter or digit"))]
    pub names: Vec<String>,
    /// Namespaces by their labels; `{}` selects every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
}

/// Who may take over products the operator did not create.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TakeOver {
    /// The namespaces that may take over existing products of this account.
    pub allowed_namespaces: NamespaceSelection,
}

/// Where an account's credentials come from: exactly one of a static AccessKey in a Secret
/// (`secretRef`), the operator's own service-account token exchanged for a RAM role's
/// temporary credentials (`oidc`, RRSA on ACK — no long-lived key in the cluster), or a RAM
/// role assumed with base credentials from a Secret (`assumeRole`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.secretRef), has(self.oidc), has(self.assumeRole)].filter(x, x).size() == 1").message("spec.credentials must name exactly one source: secretRef (a static AccessKey), oidc (RRSA: the operator's service-account token) or assumeRole (a RAM role assumed with base credentials)"))]
pub struct CredentialsSource {
    /// A Secret holding a static AccessKey pair (and, for STS credentials someone else
    /// renews, the security token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<CredentialsSecretRef>,
    /// RRSA / OIDC: the operator's projected service-account token is exchanged through STS
    /// `AssumeRoleWithOIDC` for the temporary credentials of a RAM role, renewed before they
    /// expire. The token file is the operator's (`--oidc-token-file`, by default
    /// `ALIBABA_CLOUD_OIDC_TOKEN_FILE` as ACK's pod-identity webhook sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcRoleSource>,
    /// A RAM role assumed through STS `AssumeRole` with base credentials from a Secret, so
    /// one base identity can reach several accounts' roles; renewed before expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<AssumeRoleSource>,
}

impl CredentialsSource {
    /// The Secret the credentials (or the base credentials) are read from, if any.
    #[must_use]
    pub fn secret(&self) -> Option<&CredentialsSecretRef> {
        self.secret_ref.as_ref().or(self.assume_role.as_ref().map(|a| &a.secret_ref))
    }
}

/// The RAM role to assume with the operator's OIDC token (RRSA).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct OidcRoleSource {
    /// The role's ARN (`acs:ram::<account id>:role/<name>`). Default: the operator's
    /// `--oidc-role-arn` / `ALIBABA_CLOUD_ROLE_ARN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("self.matches('^acs:ram::[0-9]+:role/.+$')").message("roleArn must be a RAM role ARN such as acs:ram::1234567890123456:role/iot-operator"))]
    pub role_arn: Option<String>,
    /// The ARN of the OIDC identity provider registered in RAM for the cluster's
    /// service-account issuer (`acs:ram::<account id>:oidc-provider/<name>`). Default: the
    /// operator's `--oidc-provider-arn` / `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("self.matches('^acs:ram::[0-9]+:oidc-provider/.+$')").message("oidcProviderArn must be a RAM OIDC provider ARN such as acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0ffee"))]
    pub oidc_provider_arn: Option<String>,
    /// The session: its name, duration, policy and STS endpoint.
    #[serde(flatten)]
    pub session: RoleSession,
}

/// The RAM role to assume with base credentials.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AssumeRoleSource {
    /// The Secret with the base AccessKey (the identity that assumes the role), in the
    /// operator's credentials namespace.
    pub secret_ref: CredentialsSecretRef,
    /// The role's ARN (`acs:ram::<account id>:role/<name>`).
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("self.matches('^acs:ram::[0-9]+:role/.+$')").message("roleArn must be a RAM role ARN such as acs:ram::1234567890123456:role/iot-operator"))]
    pub role_arn: String,
    /// The external id the role's trust policy asks for, if it asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224))]
    #[x_kube(validation = Rule::new("self.matches('^[-a-zA-Z0-9=,.@:/]+$')").message("externalId is letters, digits and =,.@:/-"))]
    pub external_id: Option<String>,
    /// The session: its name, duration, policy and STS endpoint.
    #[serde(flatten)]
    pub session: RoleSession,
}

/// A role session's settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleSession {
    /// The session name recorded in ActionTrail for the operator's calls. Default
    /// `iot-product-operator`.
    #[serde(default = "default_session_name")]
    #[schemars(length(min = 2, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[-a-zA-Z0-9.@_]+$')").message("roleSessionName is 2 to 64 of letters, digits and .@-_"))]
    pub role_session_name: String,
    /// How long the temporary credentials live, seconds: from 900 to the role's maximum
    /// session duration (at most 43200). They are renewed when a third of that is left (at
    /// most 15 minutes ahead). Default 3600.
    #[serde(default = "default_duration_seconds")]
    #[schemars(range(min = 900, max = 43200))]
    pub duration_seconds: u32,
    /// A policy (JSON) that narrows the role's permissions for the operator's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub policy: Option<String>,
    /// The STS endpoint, for example `https://sts-vpc.cn-shanghai.aliyuncs.com`. Default:
    /// the operator's `--sts-endpoint` / `ALIBABA_CLOUD_STS_ENDPOINT`, else
    /// `https://sts.<region>.aliyuncs.com`. It must be on the operator's endpoint allow list
    /// like every endpoint credentials are sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new(ENDPOINT_CHARACTERS_RULE).message("stsEndpoint must not contain a backslash, '@' (userinfo), '%' (a percent-escape), '?', '#', white space, control or non-ASCII characters: a URL parser reads them differently from how they look"))]
    #[x_kube(validation = Rule::new(ENDPOINT_SHAPE_RULE).message("stsEndpoint must be scheme://host[:port] only (http or https; a host name of letters, digits, '-', '_' and dots, not ending with a dot, or an IP address written in its usual form), such as https://sts-vpc.cn-shanghai.aliyuncs.com"))]
    pub sts_endpoint: Option<String>,
}

impl Default for RoleSession {
    fn default() -> Self {
        Self {
            role_session_name: default_session_name(),
            duration_seconds: default_duration_seconds(),
            policy: None,
            sts_endpoint: None,
        }
    }
}

fn default_session_name() -> String {
    "iot-product-operator".into()
}
fn default_duration_seconds() -> u32 {
    3600
}

/// A Secret with an AccessKey pair, in the operator's credentials namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')").message("spec.credentials.secretRef.name must be a Secret name: lower-case letters, digits, '-' and '.'"))]
    pub name: String,
    /// Namespace of the Secret. The operator reads credentials only from its own
    /// credentials namespace (its `--credentials-namespace`, by default the namespace it
    /// runs in); leave this unset, or set it to that namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("spec.credentials.secretRef.namespace must be a namespace name: lower-case letters, digits and '-', starting and ending with a letter or digit"))]
    pub namespace: Option<String>,
    /// Key of the AccessKey ID in the Secret. Default `AccessKeyId`.
    #[serde(default = "default_access_key_id_key")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[-._a-zA-Z0-9]+$')").message("a Secret key is letters, digits, '-', '_' and '.'"))]
    pub access_key_id_key: String,
    /// Key of the AccessKey secret in the Secret. Default `AccessKeySecret`.
    #[serde(default = "default_access_key_secret_key")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[-._a-zA-Z0-9]+$')").message("a Secret key is letters, digits, '-', '_' and '.'"))]
    pub access_key_secret_key: String,
    /// Key of the optional STS security token in the Secret. Default `SecurityToken`; when
    /// the Secret has no such key the AccessKey is used without a token.
    #[serde(default = "default_security_token_key")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[-._a-zA-Z0-9]+$')").message("a Secret key is letters, digits, '-', '_' and '.'"))]
    pub security_token_key: String,
}

fn default_access_key_id_key() -> String {
    "AccessKeyId".into()
}
fn default_access_key_secret_key() -> String {
    "AccessKeySecret".into()
}
fn default_security_token_key() -> String {
    "SecurityToken".into()
}

/// A request signature scheme.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum SignatureVersion {
    /// ACS3-HMAC-SHA256, header based.
    #[default]
    V3,
    /// The RPC signature version 1.0, HMAC-SHA1 over the canonical query.
    V1,
}

impl From<SignatureVersion> for iot_platform::sign::SignatureVersion {
    fn from(version: SignatureVersion) -> Self {
        match version {
            SignatureVersion::V3 => Self::V3,
            SignatureVersion::V1 => Self::V1,
        }
    }
}

/// Whether the account's credentials work, and who uses it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformAccountStatus {
    /// The `metadata.generation` the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the credentials were last checked against the platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<Time>,
    /// How many IotProducts use this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_count: Option<i64>,
    /// `Ready`: the credentials were loaded and the platform accepted them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
