"""Conformance: the official Alibaba Cloud Python SDKs drive the emulator through a whole
product life (and devices, custom topic categories, data-parsing scripts, consumer groups and
AMQP subscriptions), unchanged. If the emulator's wire format, signatures, codes or statuses drift
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
import time
import urllib.error
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


def admin_group_status(address, group_id, **setting):
    """What a consumer group's AMQP clients do (backlog, clients, speed), through the admin endpoint."""
    request = urllib.request.Request(f"http://{address}/_emulator/consumer-groups/{group_id}/status", method="PUT",
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


class Retrying:
    """Calls again while the account's documented QPS throttles (CreateProductTopic allows one
    call a second): a throttled call was not executed, so repeating it is harmless."""

    def call(self, action, **params):
        for _ in range(60):
            result = self.call_once(action, **params)
            if result.code != "Throttling.User":
                return result
            time.sleep(0.25)
        return result


class TeaClient(Retrying):
    def __init__(self, address, algorithm=None, secret=AK_SECRET):
        from alibabacloud_iot20180120.client import Client
        from alibabacloud_tea_openapi import models as open_api_models
        config = open_api_models.Config(access_key_id=AK_ID, access_key_secret=secret, endpoint=address,
                                         protocol="http", region_id="cn-shanghai")
        if algorithm:
            config.signature_algorithm = algorithm
        self.client = Client(config)

    def call_once(self, action, **params):
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


class LegacyClient(Retrying):
    def __init__(self, address, secret=AK_SECRET):
        from aliyunsdkcore.client import AcsClient
        self.address = address
        self.client = AcsClient(AK_ID, secret, "cn-shanghai")

    def call_once(self, action, **params):
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
            elif name == "ConsumerGroupIds":
                # The generated setter flattens the list (ConsumerGroupIds.1, …).
                request.set_ConsumerGroupIdss(value)
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


def new_product(c, client_name, data_format=1, **extra):
    name = f"P_{client_name.replace('-', '')}_{uuid.uuid4().hex[:8]}"
    created = c.call("CreateProduct", ProductName=name, NodeType=0, AliyunCommodityCode="iothub_senior",
                     DataFormat=data_format, **extra)
    assert created.ok, created
    return created.body["ProductKey"]


@pytest.mark.parametrize("client_name", list(CLIENTS))
def test_a_topic_category_life(emulator, client_name):
    c = CLIENTS[client_name](emulator)
    key = new_product(c, client_name)

    created = c.call("CreateProductTopic", ProductKey=key, TopicShortName="user/update", Operation="PUB",
                     Desc="uplink")
    assert created.ok, created
    topic_id = created.body["TopicId"]
    assert isinstance(topic_id, int), "a Long, as the SDK types it"
    listed = c.call("QueryProductTopic", ProductKey=key)
    assert listed.ok, listed
    assert listed.body["Data"]["ProductTopicInfo"] == [
        {"Id": str(topic_id), "ProductKey": key, "TopicShortName": "user/update", "Operation": "0",
         "Desc": "uplink", "EnableProxySubscribe": False}]

    duplicate = c.call("CreateProductTopic", ProductKey=key, TopicShortName="user/update", Operation="SUB")
    assert (duplicate.ok, duplicate.code) == (False, "iot.prod.TopicAlreadyExisted"), duplicate

    updated = c.call("UpdateProductTopic", TopicId=str(topic_id), Operation="ALL", EnableProxySubscribe=True,
                     Desc="both ways")
    assert updated.ok, updated
    info = c.call("QueryProductTopic", ProductKey=key).body["Data"]["ProductTopicInfo"][0]
    assert (info["Operation"], info["EnableProxySubscribe"], info["Desc"]) == ("2", True, "both ways")

    # Wildcards: subscriptions only, # last, never with a codec.
    for name, operation in [("cmd/+/set", "PUB"), ("cmd/#", "ALL"), ("cmd/#/x", "SUB"), ("a//b", "SUB"),
                            ("a-b", "PUB")]:
        refused = c.call("CreateProductTopic", ProductKey=key, TopicShortName=name, Operation=operation)
        assert (refused.ok, refused.code) == (False, "iot.common.InvalidFormattedParameter"), (name, refused)
    wildcard = c.call("CreateProductTopic", ProductKey=key, TopicShortName="cmd/+/set", Operation="SUB")
    assert wildcard.ok, wildcard
    no_codec = c.call("CreateProductTopic", ProductKey=key, TopicShortName="data", Operation="PUB", Codec="compress")
    assert (no_codec.ok, no_codec.code) == (False, "iot.common.APINotSupportedInInstance"), no_codec
    enterprise = new_product(c, client_name, IotInstanceId=TARGET_INSTANCE)
    compressed = c.call("CreateProductTopic", ProductKey=enterprise, IotInstanceId=TARGET_INSTANCE,
                        TopicShortName="data", Operation="PUB", Codec="compress")
    assert compressed.ok, compressed
    wild_codec = c.call("CreateProductTopic", ProductKey=enterprise, IotInstanceId=TARGET_INSTANCE,
                        TopicShortName="cmd/#", Operation="SUB", Codec="decompress")
    assert (wild_codec.ok, wild_codec.code) == (False, "iot.common.InvalidFormattedParameter"), wild_codec
    codecs = c.call("QueryProductTopic", ProductKey=enterprise, IotInstanceId=TARGET_INSTANCE)
    assert [t.get("Codec") for t in codecs.body["Data"]["ProductTopicInfo"]] == ["compress"]

    assert c.call("DeleteProductTopic", TopicId=str(topic_id)).ok
    again = c.call("DeleteProductTopic", TopicId=str(topic_id))
    assert (again.ok, again.code) == (False, "iot.prod.NotExistedTopic"), again
    names = [t["TopicShortName"] for t in c.call("QueryProductTopic", ProductKey=key).body["Data"]["ProductTopicInfo"]]
    assert names == ["cmd/+/set"]
    missing = c.call("CreateProductTopic", ProductKey="a1DoesNotExist", TopicShortName="x", Operation="PUB")
    assert (missing.ok, missing.code) == (False, "iot.prod.NotExistedProduct"), missing


JS_SCRIPT = "var COMMAND_REPORT = 0x00;\nfunction rawDataToProtocol(bytes) { return {}; }\n"
PY_SCRIPT = "def raw_data_to_protocol(data):\n    return {}\n"


def download(url):
    with urllib.request.urlopen(url) as response:
        return response.read().decode()


@pytest.mark.parametrize("client_name", list(CLIENTS))
def test_a_data_parsing_script_life(emulator, client_name):
    c = CLIENTS[client_name](emulator)
    key = new_product(c, client_name, data_format=0)

    nothing = c.call("GetThingScript", ProductKey=key)
    assert nothing.ok, nothing
    assert "Data" not in nothing.body
    early = c.call("UpdateThingScript", ProductKey=key, ScriptType="JavaScript", ScriptContent=JS_SCRIPT)
    assert (early.ok, early.code) == (False, "iot.prod.NotExistedThingScript"), early

    created = c.call("CreateThingScript", ProductKey=key, ScriptType="JavaScript", ScriptContent=JS_SCRIPT)
    assert created.ok, created
    read = c.call("GetThingScript", ProductKey=key)
    assert read.ok, read
    assert read.body["Data"]["ScriptType"] == "JavaScript"
    url = read.body["Data"]["ScriptUrl"]
    assert url.startswith(f"http://{emulator}/_emulator/scripts/"), url
    assert download(url) == JS_SCRIPT

    again = c.call("CreateThingScript", ProductKey=key, ScriptType="JavaScript", ScriptContent=JS_SCRIPT)
    assert (again.ok, again.code) == (False, "iot.prod.ThingScriptAlreadyExisted"), again
    assert c.call("UpdateThingScript", ProductKey=key, ScriptType="Python_27", ScriptContent=PY_SCRIPT).ok
    read = c.call("GetThingScript", ProductKey=key).body["Data"]
    assert read["ScriptType"] == "Python_27"
    assert download(read["ScriptUrl"]) == PY_SCRIPT
    with pytest.raises(urllib.error.HTTPError) as unknown:
        download(f"http://{emulator}/_emulator/scripts/0000")
    assert unknown.value.code == 404

    bad_type = c.call("UpdateThingScript", ProductKey=key, ScriptType="Lua", ScriptContent=PY_SCRIPT)
    assert (bad_type.ok, bad_type.code) == (False, "iot.common.InvalidFormattedParameter"), bad_type
    alink = new_product(c, client_name, data_format=1)
    refused = c.call("CreateThingScript", ProductKey=alink, ScriptType="JavaScript", ScriptContent=JS_SCRIPT)
    assert (refused.ok, refused.code) == (False, "iot.prod.ScriptNeedsCustomFormat"), refused


SUBSCRIPTION_FLAGS = ["DeviceDataFlag", "DeviceStatusChangeFlag", "DeviceTopoLifeCycleFlag", "FoundDeviceListFlag",
                      "ThingHistoryFlag", "DeviceLifeCycleFlag", "OtaEventFlag", "OtaVersionFlag", "OtaJobFlag",
                      "DeviceTagFlag"]


@pytest.mark.parametrize("client_name", list(CLIENTS))
def test_a_consumer_group_and_amqp_subscription_life(emulator, client_name):
    c = CLIENTS[client_name](emulator)
    key = new_product(c, client_name)
    name = f"orders_{client_name.replace('-', '_')}"

    created = c.call("CreateConsumerGroup", GroupName=name)
    assert created.ok, created
    group = created.body["GroupId"]
    taken = c.call("CreateConsumerGroup", GroupName=name)
    assert (taken.ok, taken.code) == (False, "iot.consumergroup.AlreadyExistedGroupName"), taken
    bad_name = c.call("CreateConsumerGroup", GroupName="no")
    assert (bad_name.ok, bad_name.code) == (False, "iot.common.InvalidFormattedParameter"), bad_name
    read = c.call("QueryConsumerGroupByGroupId", GroupId=group)
    assert read.ok, read
    assert (read.body["Data"]["GroupId"], read.body["Data"]["GroupName"]) == (group, name)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", read.body["Data"]["CreateTime"])
    assert c.call("UpdateConsumerGroup", GroupId=group, NewGroupName=name + "_2").ok
    listed = c.call("QueryConsumerGroupList", CurrentPage=1, PageSize=10)
    assert listed.ok, listed
    assert (listed.body["Total"], listed.body["PageCount"]) == (2, 1)
    assert [(g["GroupId"], g["GroupName"]) for g in listed.body["Data"]["ConsumerGroupDTO"]] == [
        ("DEFAULT_GROUP", "DEFAULT_GROUP"), (group, name + "_2")]
    fuzzy = c.call("QueryConsumerGroupList", CurrentPage=1, PageSize=10, Fuzzy=True, GroupName="_2")
    assert [g["GroupId"] for g in fuzzy.body["Data"]["ConsumerGroupDTO"]] == [group]

    no_group = c.call("CreateSubscribeRelation", ProductKey=key, Type="AMQP", ConsumerGroupIds=["nope"])
    assert (no_group.ok, no_group.code) == (False, "iot.consumergroup.NotExistedGroup"), no_group
    subscribed = c.call("CreateSubscribeRelation", ProductKey=key, Type="AMQP", ConsumerGroupIds=[group],
                        DeviceDataFlag=True, OtaJobFlag=True, SubscribeFlags='{"jt808DeviceDataFlag":true}')
    assert subscribed.ok, subscribed
    relation = c.call("QuerySubscribeRelation", ProductKey=key, Type="AMQP")
    assert relation.ok, relation
    assert (relation.body["ProductKey"], relation.body["Type"]) == (key, "AMQP")
    assert relation.body["ConsumerGroupIds"] == [group]
    assert relation.body["SubscribeFlags"] == '{"jt808DeviceDataFlag":true}'
    assert {f: relation.body[f] for f in SUBSCRIPTION_FLAGS} == {
        f: f in ("DeviceDataFlag", "OtaJobFlag") for f in SUBSCRIPTION_FLAGS}
    twice = c.call("CreateSubscribeRelation", ProductKey=key, Type="AMQP", ConsumerGroupIds=[group])
    assert (twice.ok, twice.code) == (False, "iot.subscribe.AlreadyExistedSubscribeRelation"), twice

    updated = c.call("UpdateSubscribeRelation", ProductKey=key, Type="AMQP",
                     ConsumerGroupIds=[group, "DEFAULT_GROUP"], DeviceStatusChangeFlag=True, DeviceTagFlag=True)
    assert updated.ok, updated
    relation = c.call("QuerySubscribeRelation", ProductKey=key, Type="AMQP").body
    assert relation["ConsumerGroupIds"] == [group, "DEFAULT_GROUP"]
    assert {f: relation[f] for f in SUBSCRIPTION_FLAGS} == {
        f: f in ("DeviceStatusChangeFlag", "DeviceTagFlag") for f in SUBSCRIPTION_FLAGS}
    mns = c.call("CreateSubscribeRelation", ProductKey=key, Type="MNS")
    assert (mns.ok, mns.code) == (False, "iot.common.InvalidFormattedParameter"), mns

    in_use = c.call("DeleteConsumerGroup", GroupId=group)
    assert (in_use.ok, in_use.code) == (False, "iot.consumergroup.GroupInUse"), in_use
    status = c.call("QueryConsumerGroupStatus", GroupId=group)
    assert status.ok, status
    assert (status.body["AccumulationCount"], status.body["ConsumerSpeed"]) == (0, 0)
    assert status.body["ClientConnectionStatusList"]["ConsumerGroupClientConnectionInfo"] == []
    # AMQP clients connect and consume: the emulator's admin side stands for them.
    report = admin_group_status(emulator, group, accumulationCount=1500, onlineClients=2, consumerSpeed=120)
    assert (report["accumulationCount"], report["onlineClients"]) == (1500, 2)
    status = c.call("QueryConsumerGroupStatus", GroupId=group).body
    assert (status["AccumulationCount"], status["ConsumerSpeed"]) == (1500, 120)
    assert status["LastConsumerTime"].endswith("Z")
    clients = status["ClientConnectionStatusList"]["ConsumerGroupClientConnectionInfo"]
    assert [client["ClientId"] for client in clients] == ["emulator-client-1", "emulator-client-2"]

    assert c.call("DeleteSubscribeRelation", ProductKey=key, Type="AMQP").ok
    gone = c.call("QuerySubscribeRelation", ProductKey=key, Type="AMQP")
    assert (gone.ok, gone.code) == (False, "iot.subscribe.NotExistedSubscribeRelation"), gone
    assert c.call("DeleteConsumerGroup", GroupId=group).ok
    deleted = c.call("QueryConsumerGroupByGroupId", GroupId=group)
    assert (deleted.ok, deleted.code) == (False, "iot.consumergroup.NotExistedGroup"), deleted
    default = c.call("DeleteConsumerGroup", GroupId="DEFAULT_GROUP")
    assert (default.ok, default.code) == (False, "iot.consumergroup.DefaultGroupReadOnly"), default
