//! Facts about the platform's regions that callers need without a call: each region's
//! public instance.

/// The regions with a public instance (as the documentation lists them).
pub const PUBLIC_REGIONS: &[&str] =
    &["cn-shanghai", "ap-northeast-1", "ap-southeast-1", "us-west-1", "us-east-1", "eu-central-1"];

/// The public instance id of a region (as the docs list them).
#[must_use]
pub fn public_instance(region: &str) -> String {
    match region {
        "cn-shanghai" => "iotx-oxssharez200".into(),
        "ap-northeast-1" => "iotx-oxssharez300".into(),
        "ap-southeast-1" => "iotx-oxssharez400".into(),
        "us-west-1" => "iotx-oxssharez500".into(),
        "us-east-1" => "iotx-oxssharez600".into(),
        "eu-central-1" => "iotx-oxssharez700".into(),
        other => format!("iotx-oxsshare-{other}"),
    }
}

/// The region whose public instance is `instance_id`, if it is one.
#[must_use]
pub fn public_instance_region(instance_id: &str) -> Option<&'static str> {
    PUBLIC_REGIONS.iter().find(|r| public_instance(r) == instance_id).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_public_region_maps_back_from_its_instance() {
        for region in PUBLIC_REGIONS {
            assert_eq!(public_instance_region(&public_instance(region)), Some(*region));
        }
        assert_eq!(public_instance_region("iot-cn-prod0001"), None);
    }
}
