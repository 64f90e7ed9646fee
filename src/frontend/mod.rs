//! Front ends: each reads one template language and lowers it into the
//! execution graph (`crate::graph`).

pub mod hcl;
pub mod hcl_json;
pub mod json_spans;
pub mod legacy;

use crate::diag::Diags;
use std::path::Path;

/// Which front end reads a path: legacy JSON for `*.json` files that are not
/// HCL's JSON syntax (`*.pkr.json`), HCL2 for everything else.
pub fn is_legacy_json(path: &Path) -> bool {
    let name = path.to_string_lossy();
    path.is_file() && name.ends_with(".json") && !name.ends_with(".pkr.json")
}

/// Load any template into a graph.
pub fn load(opts: &hcl::LoadOptions) -> (Option<hcl::Loaded>, Diags) {
    let (loaded, diags) = if is_legacy_json(&opts.path) {
        legacy::load(opts)
    } else {
        hcl::load(opts)
    };
    // Every plugin kiln lacks, named at once.
    (loaded, diags.dedup().gather_unknown_plugins())
}
