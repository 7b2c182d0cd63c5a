//! Thing-model handling: any text is refused or accepted without a panic; an accepted model's
//! normal form, import document and platform export all parse back to the same model.
#![no_main]

use iot_platform::tsl::ThingModel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(model) = ThingModel::parse(text) else { return };
    let digest = model.digest();
    let again = ThingModel::from_value(&model.normal_form()).expect("the normal form parses");
    assert_eq!(again.digest(), digest, "normal form is stable");
    let imported =
        ThingModel::parse(&model.import_document("a1FuzzKey01")).expect("the import document parses");
    assert_eq!(imported.digest(), digest, "import document round-trips");
    let exported = ThingModel::from_value(&model.export("a1FuzzKey01")).expect("the export parses");
    assert_eq!(exported.digest(), digest, "the platform's export round-trips");
});
