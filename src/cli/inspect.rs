//! `kiln inspect`: what `packer inspect` prints (byte for byte, with its
//! `-machine-readable` events), or the execution graph as JSON / dot.

use super::{print_diags, stderr_color, VarArgs};
use crate::frontend::hcl::outline as hcl_outline;
use crate::frontend::legacy::outline as legacy_outline;
use crate::ui::{Ui, UiOptions};
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
    if let Some(format) = a.graph {
        let (loaded, diags) = crate::frontend::load(&opts);
        print_diags(&diags, stderr_color());
        let Some(loaded) = loaded else { return 1 };
        if diags.has_errors() {
            return 1;
        }
        let text = match format {
            GraphFormat::Json => crate::graph::to_json(&loaded.graph),
            GraphFormat::Dot => crate::graph::to_dot(&loaded.graph),
        };
        // Values derived from sensitive ones are masked wherever they appear.
        print!("{}", crate::ui::redact(&loaded.graph.sensitive, &text));
        return 0;
    }
    let ui = Ui::new(
        UiOptions {
            machine_readable: a.machine_readable,
            ..UiOptions::default()
        },
        Vec::new(),
    );
    // As Packer's: what the template is made of, even when it would not
    // validate (unset variables, plugins kiln lacks); only a template
    // that does not parse is an error.
    let shown = if crate::frontend::is_legacy_json(&opts.path) {
        legacy_outline::read(&opts.path).map(|o| legacy_inspect(&o, &ui))
    } else {
        hcl_outline::read(&opts).map(|o| hcl_inspect(&o, &ui))
    };
    match shown {
        Ok(()) => 0,
        Err(diags) => {
            print_diags(&diags, stderr_color());
            1
        }
    }
}

/// Packer's listing of an HCL2 template's input variables and locals, each
/// sorted by name (what `inspect` and the console's `variables` print).
pub(super) fn variables_listing(
    variables: &[crate::graph::VariableInfo],
    locals: &[crate::graph::VariableInfo],
) -> String {
    fn sorted(v: &[crate::graph::VariableInfo]) -> Vec<&crate::graph::VariableInfo> {
        let mut v: Vec<_> = v.iter().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
    let mut out = String::from("> input-variables:\n\n");
    for x in sorted(variables) {
        out.push_str(&format!("var.{}: {}\n", x.name, x.display));
    }
    out.push_str("\n> local-variables:\n\n");
    for x in sorted(locals) {
        out.push_str(&format!("local.{}: {}\n", x.name, x.display));
    }
    out
}

/// Packer's `inspect` of an HCL2 template (the same in 1.6.6 and 1.9.5).
fn hcl_inspect(o: &hcl_outline::Outline, ui: &Ui) {
    ui.say("Packer Inspect: HCL2 mode\n");
    ui.say(&variables_listing(&o.variables, &o.locals));
    let mut b = String::from("> builds:\n");
    for (i, build) in o.builds.iter().enumerate() {
        match &build.name {
            Some(n) => b.push_str(&format!("\n  > {n}:\n")),
            None => b.push_str(&format!("\n  > <unnamed build {i}>:\n")),
        }
        if let Some(d) = &build.description {
            b.push_str(&format!("\n  > Description: {d}\n"));
        }
        b.push_str("\n    sources:\n");
        if build.sources.is_empty() {
            b.push_str("\n      <no source>\n");
        }
        for s in &build.sources {
            b.push_str(&format!("\n      {s}\n"));
        }
        b.push_str("\n    provisioners:\n\n");
        if build.provisioners.is_empty() {
            b.push_str("      <no provisioner>\n");
        }
        for p in &build.provisioners {
            b.push_str(&format!("      {p}\n"));
        }
        b.push_str("\n    post-processors:\n");
        if build.post_processors.is_empty() {
            b.push_str("\n      <no post-processor>\n");
        }
        for (i, chain) in build.post_processors.iter().enumerate() {
            b.push_str(&format!("\n      {i}:\n"));
            for p in chain {
                b.push_str(&format!("        {p}\n"));
            }
        }
    }
    ui.say(&b);
}

/// Packer's `inspect` of a legacy JSON template, with its machine-readable
/// events (`template-variable`, `template-builder`,
/// `template-provisioner`).
fn legacy_inspect(o: &legacy_outline::Outline, ui: &Ui) {
    ui.say("Packer Inspect: JSON mode");
    if let Some(d) = &o.description {
        ui.say("Description:\n");
        ui.say(&format!("{d}\n"));
    }
    let shown = |v: &legacy_outline::VariableOutline| {
        if v.sensitive {
            "<sensitive>".to_string()
        } else {
            v.default.clone().unwrap_or_default()
        }
    };
    if o.variables.is_empty() {
        ui.say("Variables:\n");
        ui.say("  <No variables>");
    } else {
        let required: Vec<_> = o.variables.iter().filter(|v| v.default.is_none()).collect();
        if !required.is_empty() {
            ui.say("Required variables:\n");
            for v in &required {
                ui.event("", "template-variable", &[&v.name, &shown(v), "1"]);
                ui.say(&format!("  {}", v.name));
            }
            ui.say("");
        }
        ui.say("Optional variables and their defaults:\n");
        let w = o.variables.iter().map(|v| v.name.len()).max().unwrap_or(0);
        for v in o.variables.iter().filter(|v| v.default.is_some()) {
            let value = shown(v);
            ui.event("", "template-variable", &[&v.name, &value, "0"]);
            ui.say(&format!("  {}{} = {value}", v.name, pad(w, &v.name)));
        }
    }
    ui.say("");
    ui.say("Builders:\n");
    if o.builders.is_empty() {
        ui.say("  <No builders>");
    }
    let w = o.builders.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, ty) in &o.builders {
        ui.event("", "template-builder", &[name, ty]);
        if name == ty {
            ui.say(&format!("  {name}{}", pad(w, name)));
        } else {
            ui.say(&format!("  {name}{} ({ty})", pad(w, name)));
        }
    }
    ui.say("");
    ui.say("Provisioners:\n");
    if o.provisioners.is_empty() {
        ui.say("  <No provisioners>");
    }
    for p in &o.provisioners {
        ui.event("", "template-provisioner", &[p]);
        ui.say(&format!("  {p}"));
    }
    ui.say("\nNote: If your build names contain user variables or template\nfunctions such as 'timestamp', these are processed at build time,\nand therefore only show in their raw form here.");
}

/// Go's padding: to a width counted in bytes, as `len` counts.
fn pad(width: usize, s: &str) -> String {
    " ".repeat(width.saturating_sub(s.len()))
}
