//! `kiln inspect`: what `packer inspect` prints, or the graph as JSON / dot.

use super::{print_diags, stderr_color, VarArgs};
use crate::graph::Graph;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
enum GraphFormat {
    Json,
    Dot,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Print the execution graph instead (json or dot)
    #[arg(long)]
    graph: Option<GraphFormat>,
    /// Machine-readable output
    #[arg(long = "machine-readable")]
    machine_readable: bool,
    #[command(flatten)]
    vars: VarArgs,
    /// Template file or directory
    template: PathBuf,
}

pub fn run(a: InspectArgs) -> i32 {
    let opts = match a.vars.load_options(a.template.clone()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let (loaded, diags) = crate::frontend::load(&opts);
    print_diags(&diags, stderr_color());
    let Some(loaded) = loaded else { return 1 };
    if diags.has_errors() {
        return 1;
    }
    let text = match a.graph {
        Some(GraphFormat::Json) => crate::graph::to_json(&loaded.graph),
        Some(GraphFormat::Dot) => crate::graph::to_dot(&loaded.graph),
        None => packer_inspect(&loaded.graph),
    };
    // Values derived from sensitive ones are masked wherever they appear.
    print!("{}", crate::ui::redact(&loaded.graph.sensitive, &text));
    0
}

/// Packer 1.6.6's `inspect` layout for HCL2 templates.
pub fn packer_inspect(g: &Graph) -> String {
    let mut o = String::new();
    if g.frontend == "json" {
        return legacy_inspect(g);
    }
    o.push_str("Packer Inspect: HCL2 mode\n\n");
    o.push_str("> input-variables:\n\n");
    for v in &g.variables {
        o.push_str(&format!(
            "var.{}: {}\n",
            v.name,
            if v.sensitive {
                "\"<sensitive>\"".to_string()
            } else {
                v.display.clone()
            }
        ));
    }
    o.push_str("\n> local-variables:\n\n");
    for v in &g.locals {
        o.push_str(&format!(
            "local.{}: {}\n",
            v.name,
            if v.sensitive {
                "\"<sensitive>\"".to_string()
            } else {
                v.display.clone()
            }
        ));
    }
    o.push_str("\n> builds:\n\n");
    // Group build nodes back into their build blocks.
    let mut idx: Vec<usize> = g.builds.iter().map(|b| b.build_index).collect();
    idx.dedup();
    for bi in idx {
        let nodes: Vec<_> = g.builds.iter().filter(|b| b.build_index == bi).collect();
        let first = nodes[0];
        let title = first
            .build_name
            .clone()
            .unwrap_or_else(|| format!("<unnamed build {bi}>"));
        o.push_str(&format!("  > {title}:\n\n"));
        if let Some(d) = &first.build_description {
            o.push_str(&format!("    description: {d}\n\n"));
        }
        o.push_str("    sources:\n\n");
        for n in &nodes {
            o.push_str(&format!("      {}\n\n", n.source_ref()));
        }
        o.push_str("    provisioners:\n\n");
        if first.provisioners.is_empty() {
            o.push_str("      <no provisioner>\n");
        }
        for p in &first.provisioners {
            o.push_str(&format!("      {}\n", p.kind));
        }
        o.push_str("\n    post-processors:\n\n");
        if first.post_processors.is_empty() {
            o.push_str("      <no post-processor>\n");
        }
        for (i, chain) in first.post_processors.iter().enumerate() {
            o.push_str(&format!("      {i}:\n"));
            for p in chain {
                o.push_str(&format!("        {}\n", p.kind));
            }
        }
        o.push('\n');
    }
    o
}

fn legacy_inspect(g: &Graph) -> String {
    let mut o = String::new();
    if let Some(d) = &g.description {
        o.push_str(&format!("Description:\n\n{d}\n\n"));
    }
    if g.variables.is_empty() {
        o.push_str("Variables:\n\n  <No variables>\n\n");
    } else {
        o.push_str("Optional variables and their defaults:\n\n");
        let w = g.variables.iter().map(|v| v.name.len()).max().unwrap_or(0);
        for v in &g.variables {
            o.push_str(&format!(
                "  {:<w$} = {}\n",
                v.name,
                v.display.trim_matches('"')
            ));
        }
        o.push('\n');
    }
    o.push_str("Builders:\n\n");
    if g.builds.is_empty() {
        o.push_str("  <No builders>\n");
    }
    for b in &g.builds {
        if b.source_name == b.source_type {
            o.push_str(&format!("  {}\n", b.source_type));
        } else {
            o.push_str(&format!(
                "  {:<w$} ({})\n",
                b.source_name,
                b.source_type,
                w = 20
            ));
        }
    }
    o.push_str("\nProvisioners:\n\n");
    match g.builds.first() {
        Some(b) if !b.provisioners.is_empty() => {
            for p in &b.provisioners {
                o.push_str(&format!("  {}\n", p.kind));
            }
        }
        _ => o.push_str("  <No provisioners>\n"),
    }
    o.push_str("\nNote: If your build names contain user variables or template\nfunctions such as 'timestamp', these are processed at build time,\nand therefore only show in their raw form here.\n");
    o
}
