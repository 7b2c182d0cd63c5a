//! JSON response bodies rendered as the platform's XML (for callers that ask for
//! `Format=XML`): objects become elements, arrays repeat their element.
//!
//! No I/O happens here.

use serde_json::Value;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn write(name: &str, value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            for item in items {
                write(name, item, out);
            }
        }
        Value::Object(map) => {
            out.push_str(&format!("<{name}>"));
            for (key, child) in map {
                write(key, child, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

/// Renders `body` under the root element `root` (`<Action>Response`, or `Error`).
#[must_use]
pub fn render(root: &str, body: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    write(root, body, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_repeat_their_element_and_text_is_escaped() {
        let body = json!({"RequestId": "r", "Data": {"List": {"ProductInfo": [{"ProductName": "a<b"}, {"ProductName": "c"}]}}});
        assert_eq!(
            render("QueryProductListResponse", &body),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><QueryProductListResponse><Data><List><ProductInfo><ProductName>a&lt;b</ProductName></ProductInfo><ProductInfo><ProductName>c</ProductName></ProductInfo></List></Data><RequestId>r</RequestId></QueryProductListResponse>"
        );
    }
}
