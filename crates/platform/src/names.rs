//! The platform's rule for product names (the CreateProduct reference): 4 to 30 characters
//! of letters, digits, underscores and Chinese characters, each Chinese character counting
//! as two. "Chinese character" is a CJK unified or compatibility ideograph: radicals and
//! strokes (U+2E80–U+2FDF, U+31C0–U+31EF) look Han but are not characters one writes a
//! name with, and are refused. The emulator enforces this rule and the CRD's validation is
//! generated from the same ranges ([`cel_ideograph_class`]), so the three agree.

/// The code point ranges counted as Chinese characters: CJK Unified Ideographs Extension A,
/// CJK Unified Ideographs, CJK Compatibility Ideographs, and the Supplementary Ideographic
/// Plane (Extensions B–F and the Compatibility Ideographs Supplement).
pub const CJK_IDEOGRAPHS: &[(u32, u32)] =
    &[(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FFFF)];

/// The shortest and longest product name, in units where a Chinese character counts two.
pub const PRODUCT_NAME_UNITS: (usize, usize) = (4, 30);

/// Whether `c` counts as a Chinese character.
#[must_use]
pub fn is_cjk_ideograph(c: char) -> bool {
    let c = c as u32;
    CJK_IDEOGRAPHS.iter().any(|(low, high)| (*low..=*high).contains(&c))
}

/// The length of a product name as the platform counts it: a Chinese character is two.
#[must_use]
pub fn product_name_units(name: &str) -> usize {
    name.chars().map(|c| if is_cjk_ideograph(c) { 2 } else { 1 }).sum()
}

/// Whether every character of `name` may appear in a product name.
#[must_use]
pub fn product_name_characters_valid(name: &str) -> bool {
    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || is_cjk_ideograph(c))
}

/// Whether `name` is a valid product name.
#[must_use]
pub fn is_valid_product_name(name: &str) -> bool {
    let (min, max) = PRODUCT_NAME_UNITS;
    product_name_characters_valid(name) && (min..=max).contains(&product_name_units(name))
}

/// The ideograph ranges as the inside of an RE2 character class, escaped for a CEL string
/// literal (`\\x{3400}-\\x{4DBF}…`).
#[must_use]
pub fn cel_ideograph_class() -> String {
    CJK_IDEOGRAPHS.iter().map(|(low, high)| format!("\\\\x{{{low:04X}}}-\\\\x{{{high:04X}}}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_counts_two_and_radicals_are_not_chinese() {
        assert!(is_valid_product_name("Lamp"));
        assert!(is_valid_product_name("智能灯_Lamp_01"));
        assert!(is_valid_product_name(&"智".repeat(15)));
        assert!(!is_valid_product_name(&"智".repeat(16)), "32 units");
        assert!(!is_valid_product_name("abc"));
        assert!(!is_valid_product_name(&"a".repeat(31)));
        // Kangxi radical ⼈ (U+2F08) and CJK radical ⺅ (U+2E85) look Han but are not ideographs.
        assert!(!is_valid_product_name("⼈⼈⼈⼈"));
        assert!(!is_valid_product_name("Lamp⺅"));
        // Extension B ideograph 𠀀 (U+20000) is Chinese.
        assert!(is_valid_product_name("𠀀𠀀"));
        for bad in ["bad-name", "bad name", "lamp@home", "lamp(1)", "ｌａｍｐ"] {
            assert!(!is_valid_product_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_cel_class_names_every_range() {
        assert_eq!(
            cel_ideograph_class(),
            "\\\\x{3400}-\\\\x{4DBF}\\\\x{4E00}-\\\\x{9FFF}\\\\x{F900}-\\\\x{FAFF}\\\\x{20000}-\\\\x{2FFFF}"
        );
    }
}
