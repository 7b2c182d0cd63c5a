//! The exposition formats: prometheus-client writes OpenMetrics; clients that do not ask for
//! it get the Prometheus text format 0.0.4, rewritten from it here.

/// Rewrites an OpenMetrics exposition (as prometheus-client writes it) in the Prometheus
/// text format 0.0.4: a counter family is named with its `_total` suffix (so its HELP and
/// TYPE name its samples), `_created` samples, `# UNIT` lines and `# EOF` go, `unknown`
/// reads `untyped`.
#[must_use]
pub fn classic_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, "counter")) = rest.split_once(' ')
        {
            counters.insert(name.to_string());
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].into_iter().find(|p| line.starts_with(p));
        if let Some(prefix) = meta {
            let rest = &line[prefix.len()..];
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = if counters.contains(name) { format!("{name}_total") } else { name.to_string() };
            let tail = if prefix == "# TYPE " && tail == "unknown" { "untyped" } else { tail };
            out.push_str(&format!("{prefix}{name} {tail}\n"));
            continue;
        }
        let sample = line.split(['{', ' ']).next().unwrap_or_default();
        if sample.strip_suffix("_created").is_some_and(|family| counters.contains(family)) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
