//! `kiln init`: Packer's plugin installer. Every plugin kiln runs is built
//! in, so there is nothing to download; it checks the template's
//! `required_plugins` (sources kiln has, well-formed constraints,
//! `required_version`) and says so, and exits as `packer init` does: 0 when
//! all is there, 1 for a plugin kiln lacks or a template it cannot read.

use super::{print_diags, stderr_color};
use crate::frontend::hcl::PluginRequirement;
use crate::plugin::built_in_version;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct InitArgs {
    /// Also update installed plugins to their latest allowed version (all are built in: nothing to update)
    #[arg(long)]
    upgrade: bool,
    /// HCL2 template file or directory
    template: PathBuf,
}

pub fn run(a: InitArgs) -> i32 {
    let color = stderr_color();
    if crate::frontend::is_legacy_json(&a.template) {
        let d = crate::diag::Diag::error("Packer init is supported for HCL2 configuration templates only")
            .detail("Please manually install plugins or use a HCL2 configuration that will do that for you.")
            .hint("kiln has every plugin it runs built in: a JSON template needs no init (`kiln hcl2_upgrade` turns it into HCL2)");
        print_diags(&d.into(), color);
        return 1;
    }
    let (required, diags) = crate::frontend::hcl::plugin_requirements(&a.template);
    print_diags(&diags, color);
    if diags.has_errors() {
        return 1;
    }
    for r in &required {
        println!("{}", describe(r));
    }
    0
}

/// One line per required plugin: built in, and whether the version asked
/// for is the one kiln follows.
fn describe(r: &PluginRequirement) -> String {
    let base = format!(
        "Plugin {} ({}) is built into kiln: nothing to install.",
        r.source, r.name
    );
    match r
        .version
        .as_deref()
        .and_then(|c| release_warning(&r.source, c))
    {
        Some(w) => format!("{base}\n  Warning: {w}"),
        None => base,
    }
}

/// Why a version constraint on a built-in plugin deserves a warning: it
/// does not allow the release whose options kiln's plugin follows.
pub(super) fn release_warning(source: &str, constraint: &str) -> Option<String> {
    let v = built_in_version(source)?;
    match crate::frontend::hcl::version_satisfies(constraint, v) {
        Ok(false) => Some(format!("{source} in kiln follows the options of v{v}, which the constraint {constraint:?} does not allow; options of other releases may be missing.")),
        _ => None,
    }
}
