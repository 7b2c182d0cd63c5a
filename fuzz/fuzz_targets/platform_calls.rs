//! The emulated platform's business logic: any sequence of calls with any parameters (drawn
//! from the operations and parameter names the platform knows) is answered without a panic,
//! and a product a call created can be queried.
#![no_main]

use arbitrary::Arbitrary;
use iot_platform_emulator::state::{CallContext, Instance, Rules, State};
use iot_platform::wire::Params;
use libfuzzer_sys::fuzz_target;

const ACTIONS: &[&str] = &[
    "CreateProduct",
    "UpdateProduct",
    "DeleteProduct",
    "QueryProduct",
    "QueryProductList",
    "ReleaseProduct",
    "CancelReleaseProduct",
    "CreateProductTags",
    "UpdateProductTags",
    "DeleteProductTags",
    "ListProductTags",
    "ListProductByTags",
    "ImportThingModelTsl",
    "GetThingModelTsl",
    "PublishThingModel",
    "ListThingModelVersion",
    "CreateProductDistributeJob",
    "QueryProductDistributeJob",
    "ListProductDistributeJob",
    "DeleteDeviceDistributeJob",
    "ListDistributedProduct",
    "QueryDeviceDistributeJob",
    "RegisterDevice",
    "QueryDeviceStatistics",
];
const NAMES: &[&str] = &[
    "DeviceName",
    "Nickname",
    "GroupId",
    "ProductName",
    "ProductKey",
    "NodeType",
    "DataFormat",
    "AliyunCommodityCode",
    "NetType",
    "ProtocolType",
    "AuthType",
    "CategoryKey",
    "ValidateType",
    "ResourceGroupId",
    "Description",
    "IotInstanceId",
    "PublishAuto",
    "CurrentPage",
    "PageSize",
    "ProductTag.1.TagKey",
    "ProductTag.1.TagValue",
    "ProductTag.2.TagKey",
    "ProductTag.2.TagValue",
    "ProductTagKey.1",
    "TslStr",
    "TslUrl",
    "ModelVersion",
    "FunctionBlockId",
    "SourceInstanceId",
    "TargetInstanceId",
    "TargetUid",
    "TargetAliyunId",
    "JobId",
    "Captcha",
    "NextToken",
    "MaxResults",
    "ResourceGroupId",
    "Id2",
];
const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "2",
    "-1",
    "3",
    "99999999999999999999",
    "Fuzz_Product",
    "iot-cn-prod0001",
    "iot-cn-nope",
    "true",
    "false",
    "iothub_senior",
    "iothub",
    "ALINK_JSON",
    "WIFI",
    "MODBUS",
    "secret",
    "{}",
    r#"{"properties":[{"identifier":"Power","name":"Power","accessMode":"rw","dataType":{"type":"bool"}}]}"#,
    "1234567890123456",
    "owner@example.com",
    "名字名字",
    "a b",
    "%00",
];

#[derive(Arbitrary, Debug)]
struct Call {
    action: u8,
    params: Vec<(u8, u8, Option<String>)>,
}

fuzz_target!(|calls: Vec<Call>| {
    let mut state = State::new(Rules {
        instances: vec![Instance { id: "iot-cn-prod0001".into(), region: "cn-shanghai".into() }],
        max_products_per_instance: 20,
        ..Rules::default()
    });
    let context = CallContext {
        uid: "1234567890123456".into(),
        logon_id: "owner@example.com".into(),
        region: "cn-shanghai".into(),
        now_ms: 1_704_067_200_000,
        fail_distribution: false,
    };
    let mut keys: Vec<String> = Vec::new();
    for call in calls.iter().take(32) {
        let action = ACTIONS[call.action as usize % ACTIONS.len()];
        let params = Params::from_pairs(call.params.iter().map(|(name, value, text)| {
            let name = NAMES[*name as usize % NAMES.len()].to_string();
            let value = match (text, name.as_str()) {
                (_, "ProductKey") if !keys.is_empty() => keys[*value as usize % keys.len()].clone(),
                (Some(text), _) if value % 4 == 0 => text.clone(),
                _ => VALUES[*value as usize % VALUES.len()].to_string(),
            };
            (name, value)
        }));
        let answer = state.handle(&context, action, &params);
        if action == "CreateProduct"
            && let Ok(body) = &answer
            && let Some(key) = body.pointer("/Data/ProductKey").and_then(|k| k.as_str())
        {
            let instance = params.get("IotInstanceId").unwrap_or_default();
            let mut query = vec![("ProductKey".to_string(), key.to_string())];
            if !instance.is_empty() {
                query.push(("IotInstanceId".to_string(), instance.to_string()));
            }
            let found = state.handle(&context, "QueryProduct", &Params::from_pairs(query));
            assert!(found.is_ok(), "created product {key} cannot be queried: {found:?}");
            keys.push(key.to_string());
        }
    }
});
