"""Conformance: the official Alibaba Cloud Python SDKs drive the emulator through a whole
product life, unchanged. If the emulator's wire format, signatures, codes or statuses drift
from the real platform's, these clients (which nobody here wrote) notice.

Clients:
  tea-v3        alibabacloud-iot20180120 with its default signer (ACS3-HMAC-SHA256)
  tea-v2        alibabacloud-iot20180120 with signature_algorithm='v2' (RPC HMAC-SHA1)
  tea-v3-async  the same SDK's `*_async` calls (aiohttp, which adds a Content-Type header the
  tea-v2-async  signer did not see: the gateway requires only host and the x-acs-* headers)
  legacy        aliyun-python-sdk-iot + aliyun-python-sdk-core (RPC HMAC-SHA1, Format=JSON)

Run through scripts/conformance.sh (which builds the binary and the virtualenv).
"""

import json
import os
import re
import subprocess
import urllib.request
import uuid

import pytest

AK_ID = "LTAI5tConformanceKey"
AK_SECRET = "conformance-secret-value"
UID = "1234567890123456"
LOGON = "owner@example.com"
TARGET_INSTANCE = "iot-cn-target0001"

TSL = json.dumps({
    "properties": [
        {"identifier": "PowerSwitch", "name": "Power", "accessMode": "rw", "required": False,
         "dataType": {"type": "bool", "specs": {"0": "off", "1": "on"}}},
    ],
    "events": [],
    "services": [],
})


def run_emulator(*extra_args):
    binary = os.environ["IOTOP_EMULATOR_BIN"]
    proc = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--access-key", f"{AK_ID}:{AK_SECRET}:{UID}:{LOGON}",
         "--instance", f"{TARGET_INSTANCE}@cn-shanghai", "--job-duration-ms", "300", "--log-level", "warn",
         *extra_args],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://(\S+) ", line)
    assert match, f"emulator did not start: {line!r}"
    yield match.group(1)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def emulator():
    """A fresh emulator per test: each test has the account's QPS budget to itself."""
    yield from run_emulator()


@pytest.fixture
def refusing_emulator():
    """An emulator whose DeleteProduct refuses a product that still has devices."""
    yield from run_emulator("--delete-product-with-devices", "refuse")


def admin_state(address):
    with urllib.request.urlopen(f"http://{address}/_emulator/state") as response:
        return json.load(response)["state"]


def admin_devices(address, key, **setting):
    """What real devices do by registering and connecting, through the admin endpoint."""
    request = urllib.request.Request(f"http://{address}/_emulator/devices/{key}", method="PUT",
                                     data=json.dumps(setting).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


class Result:
    """What a call returned, whichever SDK made it: success, or a code and status."""

    def __init__(self, ok, body=None, code=None, status=None, message=None):
        self.ok, self.body, self.code, self.status, self.message = ok, body or {}, code, status, message

    def __repr__(self):
        return f"Result(ok={self.ok}, code={self.code}, status={self.status}, message={self.message})"


class TeaClient:
    def __init__(self, address, algorithm=None, secret=AK_SECRET):
        from alibabacloud_iot20180120.client import Client
        from alibabacloud_tea_openapi import models as open_api_models
        config = open_api_models.Config(access_key_id=AK_ID, access_key_secret=secret, endpoint=address,
                                         protocol="http", region_id="cn-shanghai")
        if algorithm:
            config.signature_algorithm = algorithm
        self.client = Client(config)

    def call(self, action, **params):
        from alibabacloud_iot20180120 import models
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
        request_class = getattr(models, f"{action}Request")
        if "ProductTag" in params:
            tag_class = getattr(models, f"{action}RequestProductTag")
            params["product_tag"] = [tag_class(tag_key=k, tag_value=v) for k, v in params.pop("ProductTag")]
        if "ProductTagKey" in params:
            params["product_tag_key"] = params.pop("ProductTagKey")
        kwargs = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in params.items()}
        try:
            response = self.invoke(snake, request_class(**kwargs))
        except Exception as error:  # TeaException for HTTP >= 400
            data = getattr(error, "data", None) or {}
            return Result(False, code=getattr(error, "code", None), status=data.get("statusCode"),
                          message=getattr(error, "message", str(error)))
        body = response.body.to_map()
        if body.get("Success") is False:
            return Result(False, body, code=body.get("Code"), status=response.status_code, message=body.get("ErrorMessage"))
        return Result(True, body, status=response.status_code)


    def invoke(self, snake, request):
        return getattr(self.client, snake)(request)


class TeaAsyncClient(TeaClient):
    """The SDK's asynchronous calls, sent by aiohttp. Through `*_with_options_async`: the
    short `publish_thing_model_async` is the synchronous call of the PublishThingModelAsync
    operation, which shadows the asynchronous PublishThingModel."""

    def invoke(self, snake, request):
        import asyncio
        from alibabacloud_tea_util import models as util_models
        call = getattr(self.client, f"{snake}_with_options_async")
        return asyncio.run(call(request, util_models.RuntimeOptions()))


class LegacyClient:
    def __init__(self, address, secret=AK_SECRET):
        from aliyunsdkcore.client import AcsClient
        self.address = address
        self.client = AcsClient(AK_ID, secret, "cn-shanghai")

    def call(self, action, **params):
        import importlib
        from aliyunsdkcore.acs_exception.exceptions import ServerException
        module = importlib.import_module(f"aliyunsdkiot.request.v20180120.{action}Request")
        request = getattr(module, f"{action}Request")()
        request.set_endpoint(self.address)
        request.set_protocol_type("http")
        for name, value in params.items():
            if name == "ProductTag":
                request.set_ProductTags([{"TagKey": k, "TagValue": v} for k, v in value])
            elif name == "ProductTagKey":
                request.set_ProductTagKeys(value)
            else:
                getattr(request, f"set_{name}")(value)
        try:
            raw = self.client.do_action_with_exception(request)
        except ServerException as error:
            return Result(False, code=error.get_error_code(), status=error.get_http_status(), message=error.get_error_msg())
        body = json.loads(raw)
        if body.get("Success") is False:
            return Result(False, body, code=body.get("Code"), status=200, message=body.get("ErrorMessage"))
        return Result(True, body, status=200)


CLIENTS = {
    "tea-v3": lambda address, **kw: TeaClient(address, **kw),
    "tea-v2": lambda address, **kw: TeaClient(address, algorithm="v2", **kw),
    "tea-v3-async": lambda address, **kw: TeaAsyncClient(address, **kw),
    "tea-v2-async": lambda address, **kw: TeaAsyncClient(address, algorithm="v2", **kw),
    "legacy": lambda address, **kw: LegacyClient(address, **kw),
}


@pytest.mark.parametrize("client_name", list(CLIENTS))
def test_a_whole_product_life(emulator, client_name):
    c = CLIENTS[client_name](emulator)
    name = f"Lamp_{client_name.replace('-', '')}_{uuid.uuid4().hex[:6]}"

    created = c.call("CreateProduct", ProductName=name, NodeType=0, AliyunCommodityCode="iothub_senior",
                     DataFormat=1, Description="conformance lamp", PublishAuto=False)
    assert created.ok, created
    key = created.body["ProductKey"]
    assert created.body["Data"]["ProductKey"] == key
    assert created.body["Data"]["ProductSecret"]
    assert created.body["RequestId"]

    duplicate = c.call("CreateProduct", ProductName=name, NodeType=0)
    assert (duplicate.ok, duplicate.code) == (False, "iot.prod.AlreadyExistedProductName"), duplicate

    queried = c.call("QueryProduct", ProductKey=key)
    assert queried.ok, queried
    assert queried.body["Data"]["ProductName"] == name
    assert queried.body["Data"]["ProductStatus"] == "DEVELOPMENT_STATUS"
    assert queried.body["Data"]["NetType"] == 3

    listed = c.call("QueryProductList", CurrentPage=1, PageSize=200)
    assert listed.ok, listed
    assert key in [p["ProductKey"] for p in listed.body["Data"]["List"]["ProductInfo"]]

    assert c.call("UpdateProduct", ProductKey=key, ProductName=name + "2", Description="renamed").ok

    assert c.call("CreateProductTags", ProductKey=key, ProductTag=[("team", "lighting"), ("stage", "dev")]).ok
    tags = c.call("ListProductTags", ProductKey=key)
    assert sorted((t["TagKey"], t["TagValue"]) for t in tags.body["Data"]["ProductTag"]) == [("stage", "dev"), ("team", "lighting")]
    assert c.call("UpdateProductTags", ProductKey=key, ProductTag=[("stage", "prod")]).ok
    assert c.call("DeleteProductTags", ProductKey=key, ProductTagKey=["team"]).ok
    tags = c.call("ListProductTags", ProductKey=key)
    assert [(t["TagKey"], t["TagValue"]) for t in tags.body["Data"]["ProductTag"]] == [("stage", "prod")]

    assert c.call("ImportThingModelTsl", ProductKey=key, TslStr=TSL).ok
    tsl = c.call("GetThingModelTsl", ProductKey=key)
    assert tsl.ok, tsl
    assert "PowerSwitch" in tsl.body["Data"]["TslStr"]
    assert c.call("PublishThingModel", ProductKey=key, ModelVersion="1.0.1", Description="first").ok
    versions = c.call("ListThingModelVersion", ProductKey=key)
    assert versions.body["Data"]["ModelVersions"][0]["ModelVersion"] == "1.0.1"

    assert c.call("ReleaseProduct", ProductKey=key).ok
    assert c.call("QueryProduct", ProductKey=key).body["Data"]["ProductStatus"] == "RELEASE_STATUS"
    refused = c.call("UpdateProduct", ProductKey=key, ProductName=name + "3")
    assert (refused.ok, refused.code) == (False, "iot.prod.ProductIsPublished"), refused
    refused = c.call("ImportThingModelTsl", ProductKey=key, TslStr=TSL)
    assert not refused.ok
    assert c.call("CancelReleaseProduct", ProductKey=key).ok
    assert c.call("UpdateProduct", ProductKey=key, ProductName=name + "3").ok

    job = c.call("CreateProductDistributeJob", ProductKey=key, SourceInstanceId="iotx-oxssharez200",
                 TargetInstanceId=TARGET_INSTANCE, TargetUid=UID)
    assert job.ok, job
    job_id = job.body["JobId"]
    queried_job = c.call("QueryDeviceDistributeJob", JobId=job_id)
    assert queried_job.ok, queried_job
    assert queried_job.body["Data"]["ProductKey"] == key
    assert queried_job.body["Data"]["Status"] in (0, 1, 2)
    assert c.call("DeleteDeviceDistributeJob", JobId=job_id).ok

    assert c.call("DeleteProduct", ProductKey=key).ok
    gone = c.call("QueryProduct", ProductKey=key)
    assert (gone.ok, gone.code) == (False, "iot.prod.NotExistedProduct"), gone
    assert key not in [p["productKey"] for p in admin_state(emulator)["products"]]


@pytest.mark.parametrize("client_name", list(CLIENTS))
def test_a_bad_signature_is_refused(emulator, client_name):
    c = CLIENTS[client_name](emulator, secret="not-the-secret")
    refused = c.call("QueryProductList", CurrentPage=1, PageSize=10)
    # aliyun-python-sdk-core compares the "server string to sign" in the message with its
    # own, and when they are equal reports the secret as wrong: so this also proves that
    # the emulator computed exactly the string the SDK signed.
    expected = "InvalidAccessKeySecret" if client_name == "legacy" else "SignatureDoesNotMatch"
    assert (refused.ok, refused.code) == (False, expected), refused
    assert refused.status == 400


@pytest.mark.parametrize("client_name", list(CLIENTS))
def test_a_missing_product_is_reported_as_a_business_error(emulator, client_name):
    c = CLIENTS[client_name](emulator)
    missing = c.call("QueryProduct", ProductKey="a1DoesNotExist")
    assert (missing.ok, missing.code) == (False, "iot.prod.NotExistedProduct"), missing


@pytest.mark.parametrize("client_name", list(CLIENTS))
def test_devices_are_registered_and_counted(emulator, client_name):
    c = CLIENTS[client_name](emulator)
    name = f"Lamp_{client_name.replace('-', '')}_{uuid.uuid4().hex[:6]}"
    created = c.call("CreateProduct", ProductName=name, NodeType=0)
    assert created.ok, created
    key = created.body["ProductKey"]
    assert c.call("QueryProduct", ProductKey=key).body["Data"]["DeviceCount"] == 0

    registered = c.call("RegisterDevice", ProductKey=key, DeviceName="lamp-01:a@b.c_d", Nickname="Kitchen_lamp")
    assert registered.ok, registered
    device = registered.body["Data"]
    assert (device["ProductKey"], device["DeviceName"], device["Nickname"]) == (key, "lamp-01:a@b.c_d", "Kitchen_lamp")
    assert device["IotId"] and device["DeviceSecret"]
    generated = c.call("RegisterDevice", ProductKey=key)
    assert generated.ok, generated
    assert generated.body["Data"]["DeviceName"] and generated.body["Data"]["IotId"] != device["IotId"]

    duplicate = c.call("RegisterDevice", ProductKey=key, DeviceName="lamp-01:a@b.c_d")
    assert (duplicate.ok, duplicate.code) == (False, "iot.device.AlreadyExistedDeviceName"), duplicate
    malformed = c.call("RegisterDevice", ProductKey=key, DeviceName="no")
    assert (malformed.ok, malformed.code) == (False, "iot.device.InvalidFormattedDeviceName"), malformed
    missing = c.call("RegisterDevice", ProductKey="a1DoesNotExist", DeviceName="lamp-02")
    assert (missing.ok, missing.code) == (False, "iot.prod.NotExistedProduct"), missing

    # Devices connect: the emulator's admin side stands for them.
    counts = admin_devices(emulator, key, register=3, activated=3, online=1)
    assert (counts["deviceCount"], counts["activeCount"], counts["onlineCount"]) == (5, 3, 1)
    statistics = c.call("QueryDeviceStatistics", ProductKey=key)
    assert statistics.ok, statistics
    assert statistics.body["Data"] == {"deviceCount": 5, "activeCount": 3, "onlineCount": 1}
    account = c.call("QueryDeviceStatistics")
    assert account.ok, account
    assert account.body["Data"]["deviceCount"] == 5
    assert c.call("QueryProduct", ProductKey=key).body["Data"]["DeviceCount"] == 5
    listed = c.call("QueryProductList", CurrentPage=1, PageSize=200)
    assert [p["DeviceCount"] for p in listed.body["Data"]["List"]["ProductInfo"] if p["ProductKey"] == key] == [5]

    # By default a product is deleted with its devices.
    assert c.call("DeleteProduct", ProductKey=key).ok
    gone = c.call("QueryDeviceStatistics", ProductKey=key)
    assert (gone.ok, gone.code) == (False, "iot.prod.NotExistedProduct"), gone
    assert c.call("QueryDeviceStatistics").body["Data"]["deviceCount"] == 0


@pytest.mark.parametrize("client_name", list(CLIENTS))
def test_a_product_with_devices_can_be_kept_from_deletion(refusing_emulator, client_name):
    c = CLIENTS[client_name](refusing_emulator)
    name = f"Lamp_{client_name.replace('-', '')}_{uuid.uuid4().hex[:6]}"
    key = c.call("CreateProduct", ProductName=name, NodeType=0).body["ProductKey"]
    assert c.call("RegisterDevice", ProductKey=key, DeviceName="lamp-01").ok
    refused = c.call("DeleteProduct", ProductKey=key)
    assert (refused.ok, refused.code, refused.status) == (False, "iot.prod.ProductHasDevices", 200), refused
    assert c.call("QueryProduct", ProductKey=key).body["Data"]["DeviceCount"] == 1
