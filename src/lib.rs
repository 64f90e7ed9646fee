//! kiln: a fast, single-binary, HCL2-native machine-image builder that runs
//! Packer templates.
//!
//! Layers, in the order a template flows through them:
//! `frontend::{hcl, legacy}` → `graph` → `runner` → `builder`,
//! `communicator`, `provisioner`, `postprocessor`; `ui` prints, `cli` wires
//! the commands.

// A failed parse or evaluation returns a `Diag` (file, span, snippet, hint:
// ~180 bytes). That is the cold path; boxing it would add an allocation
// and an indirection to every diagnostic for no measured gain.
#![allow(clippy::result_large_err)]

pub mod builder;
pub mod cli;
pub mod communicator;
pub mod datasource;
pub mod diag;
pub mod fix;
pub mod fmt;
pub mod frontend;
pub mod graph;
pub mod incremental;
pub mod plugin;
pub mod postprocessor;
pub mod provisioner;
pub mod runner;
pub mod ui;
pub mod upgrade;
pub mod util;
pub mod value;
