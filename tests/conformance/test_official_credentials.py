"""Conformance of the emulator's STS with the official credentials package.

`alibabacloud-credentials` obtains temporary credentials from the emulator's STS with its
OIDC-role provider (RRSA: AssumeRoleWithOIDC with a JWT read from a file) and its RAM-role
provider (AssumeRole signed with a base AccessKey); the official IoT SDK then calls the
emulator with them. Both providers call STS over HTTPS only, so the emulator serves TLS with
a throwaway certificate the test trusts (SSL_CERT_FILE).

Run through scripts/conformance.sh (which builds the binary and the virtualenv).
"""

import base64
import json
import os
import re
import ssl
import subprocess
import time
import urllib.request

import pytest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

AK_ID = "LTAI5tBaseIdentityKey"
AK_SECRET = "base-identity-secret-value"
UID = "1234567890123456"
ROLE = f"acs:ram::{UID}:role/iot-operator"
PROVIDER = f"acs:ram::{UID}:oidc-provider/conformance"
ISSUER = "https://oidc.conformance.example"
AUDIENCE = "sts.aliyuncs.com"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(value):
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


class Issuer:
    """An OIDC issuer: an RSA key, its JWKS, and RS256 tokens."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        self.jwks = {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                               "n": b64url(int_bytes(numbers.n)), "e": b64url(int_bytes(numbers.e))}]}

    def token(self, audience=AUDIENCE, lifetime=600):
        now = int(time.time())
        header = b64url(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
        claims = b64url(json.dumps({"iss": ISSUER, "aud": [audience], "sub": "system:serviceaccount:iot:operator",
                                    "iat": now, "exp": now + lifetime}).encode())
        signature = self.key.sign(f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{claims}.{b64url(signature)}"


@pytest.fixture
def tls_emulator(tmp_path, monkeypatch):
    """A fresh emulator serving HTTPS with a self-signed certificate for 127.0.0.1."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    binary = os.environ["IOTOP_EMULATOR_BIN"]
    proc = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(key),
         "--access-key", f"{AK_ID}:{AK_SECRET}:{UID}:owner@example.com", "--log-level", "warn"],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"https://(\S+) ", line)
    assert match, f"emulator did not start: {line!r}"
    # Trusted the way a private CA is: the SDK's TLS context loads OpenSSL's default paths.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    for name in [n for n in os.environ if n.startswith("ALIBABA_CLOUD_")]:
        monkeypatch.delenv(name)
    yield match.group(1), str(cert)
    proc.terminate()
    proc.wait(timeout=10)


def admin(address, cafile, method, path, body=None):
    context = ssl.create_default_context(cafile=cafile)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"https://{address}/_emulator/{path}", data=data, method=method,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, context=context) as response:
        return json.load(response)


def configure_sts(address, cafile, issuer, lifetime=None):
    admin(address, cafile, "PUT", "sts", {
        "lifetimeSeconds": lifetime,
        "roles": [{"arn": ROLE, "trustedAccessKeys": [AK_ID], "trustedOidcProviders": [PROVIDER]}],
        "oidcProviders": [{"arn": PROVIDER, "issuer": ISSUER, "audiences": [AUDIENCE], "jwks": issuer.jwks}],
    })


def iot_client(address, credentials_provider):
    """The official IoT SDK, taking its credentials from an official credentials provider."""
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_iot20180120.client import Client
    from alibabacloud_tea_openapi import models as open_api_models
    config = open_api_models.Config(credential=CredentialClient(provider=credentials_provider),
                                    endpoint=address, protocol="https", region_id="cn-shanghai")
    return Client(config)


def create_and_query(client, name):
    from alibabacloud_iot20180120 import models
    created = client.create_product(models.CreateProductRequest(product_name=name, node_type=0, data_format=1,
                                                                aliyun_commodity_code="iothub"))
    assert created.body.success, created.body
    key = created.body.product_key
    queried = client.query_product(models.QueryProductRequest(product_key=key))
    assert queried.body.success and queried.body.data.product_name == name
    return key


def test_the_oidc_role_provider_gets_credentials_the_iot_sdk_then_uses(tls_emulator, tmp_path):
    from alibabacloud_credentials.provider.oidc import OIDCRoleArnCredentialsProvider
    address, cafile = tls_emulator
    issuer = Issuer()
    configure_sts(address, cafile, issuer)
    token_file = tmp_path / "token"
    token_file.write_text(issuer.token())
    provider = OIDCRoleArnCredentialsProvider(role_arn=ROLE, oidc_provider_arn=PROVIDER,
                                              oidc_token_file_path=str(token_file), role_session_name="conformance",
                                              duration_seconds=3600, sts_endpoint=address)
    credentials = provider.get_credentials()
    assert credentials.get_access_key_id().startswith("STS.")
    assert credentials.get_security_token()
    create_and_query(iot_client(address, provider), "Lamp_Oidc")
    stats = admin(address, cafile, "GET", "state")["stats"]
    assert stats["calls"]["AssumeRoleWithOIDC"] == {"Success": 1}, stats["calls"]
    assert stats["calls"]["CreateProduct"] == {"Success": 1}


def test_the_oidc_role_provider_reports_a_token_for_another_audience(tls_emulator, tmp_path):
    from alibabacloud_credentials.exceptions import CredentialException
    from alibabacloud_credentials.provider.oidc import OIDCRoleArnCredentialsProvider
    address, cafile = tls_emulator
    issuer = Issuer()
    configure_sts(address, cafile, issuer)
    token_file = tmp_path / "token"
    token_file.write_text(issuer.token(audience="someone-else"))
    provider = OIDCRoleArnCredentialsProvider(role_arn=ROLE, oidc_provider_arn=PROVIDER,
                                              oidc_token_file_path=str(token_file), sts_endpoint=address)
    with pytest.raises(CredentialException) as refused:
        provider.get_credentials()
    assert "http_code: 401" in str(refused.value)
    assert "AuthenticationFail.OIDCToken.AudienceNotMatch" in str(refused.value)


def test_the_ram_role_provider_assumes_a_role_with_a_base_key(tls_emulator):
    from alibabacloud_credentials.provider.ram_role_arn import RamRoleArnCredentialsProvider
    address, cafile = tls_emulator
    configure_sts(address, cafile, Issuer())
    provider = RamRoleArnCredentialsProvider(access_key_id=AK_ID, access_key_secret=AK_SECRET, role_arn=ROLE,
                                             role_session_name="conformance", duration_seconds=3600,
                                             external_id="abc-123", sts_endpoint=address)
    credentials = provider.get_credentials()
    assert credentials.get_access_key_id().startswith("STS.")
    create_and_query(iot_client(address, provider), "Lamp_RamRole")
    stats = admin(address, cafile, "GET", "state")["stats"]
    assert stats["calls"]["AssumeRole"] == {"Success": 1}, stats["calls"]


def test_expired_temporary_credentials_are_refused_with_the_platforms_code(tls_emulator):
    from alibabacloud_credentials.provider.static_sts import StaticSTSCredentialsProvider
    from Tea.exceptions import TeaException
    from alibabacloud_credentials.provider.ram_role_arn import RamRoleArnCredentialsProvider
    address, cafile = tls_emulator
    configure_sts(address, cafile, Issuer(), lifetime=1)
    issued = RamRoleArnCredentialsProvider(access_key_id=AK_ID, access_key_secret=AK_SECRET, role_arn=ROLE,
                                           role_session_name="conformance", sts_endpoint=address).get_credentials()
    deadline = time.time() + 10
    while time.time() < issued.get_expiration() + 1 and time.time() < deadline:
        time.sleep(0.1)
    frozen = StaticSTSCredentialsProvider(access_key_id=issued.get_access_key_id(),
                                          access_key_secret=issued.get_access_key_secret(),
                                          security_token=issued.get_security_token())
    with pytest.raises(TeaException) as refused:
        create_and_query(iot_client(address, frozen), "Lamp_Expired")
    assert refused.value.code == "InvalidSecurityToken.Expired"
