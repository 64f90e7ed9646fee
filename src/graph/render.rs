//! `inspect --graph=json` and `--graph=dot`.

use super::{Config, Graph};
use serde::Serializer;
use std::time::Duration;

pub fn ser_config<S: Serializer>(c: &Config, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(c.len()))?;
    for (k, v) in c {
        m.serialize_entry(k, &v.to_json())?;
    }
    m.end()
}

pub mod opt_duration {
    use super::*;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&crate::util::duration::format(*d)),
            None => s.serialize_none(),
        }
    }
}

/// The graph as JSON, with sensitive strings masked.
pub fn to_json(g: &Graph) -> String {
    let mut s = serde_json::to_string_pretty(g)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    for secret in &g.sensitive {
        if !secret.is_empty() {
            let esc = serde_json::to_string(secret).unwrap_or_default();
            let esc = esc.trim_matches('"');
            s = s.replace(esc, "<sensitive>");
        }
    }
    s.push('\n');
    s
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz: data sources, builds, and each build's steps in order.
pub fn to_dot(g: &Graph) -> String {
    let mut out = String::from("digraph kiln {\n  rankdir=LR;\n  node [shape=box];\n");
    for d in &g.datasources {
        out.push_str(&format!("  {} [shape=ellipse];\n", dot_id(&d.id)));
    }
    for b in &g.builds {
        let bid = format!("build:{}", b.name);
        out.push_str(&format!(
            "  subgraph {} {{\n    label={};\n",
            dot_id(&format!("cluster_{}", b.name)),
            dot_id(&b.name)
        ));
        out.push_str(&format!(
            "    {} [label={}];\n",
            dot_id(&bid),
            dot_id(&format!("source {}", b.source_ref()))
        ));
        let mut prev = bid.clone();
        for (i, p) in b.provisioners.iter().enumerate() {
            let id = format!("{}:provisioner:{}", b.name, i);
            out.push_str(&format!(
                "    {} [label={}];\n",
                dot_id(&id),
                dot_id(&format!("provisioner {}", p.kind))
            ));
            out.push_str(&format!("    {} -> {};\n", dot_id(&prev), dot_id(&id)));
            prev = id;
        }
        for (ci, chain) in b.post_processors.iter().enumerate() {
            let mut cprev = prev.clone();
            for (i, p) in chain.iter().enumerate() {
                let id = format!("{}:post-processor:{}:{}", b.name, ci, i);
                out.push_str(&format!(
                    "    {} [label={}];\n",
                    dot_id(&id),
                    dot_id(&format!("post-processor {}", p.kind))
                ));
                out.push_str(&format!("    {} -> {};\n", dot_id(&cprev), dot_id(&id)));
                cprev = id;
            }
        }
        out.push_str("  }\n");
    }
    for e in &g.edges {
        out.push_str(&format!("  {} -> {};\n", dot_id(&e.from), dot_id(&e.to)));
    }
    out.push_str("}\n");
    out
}
