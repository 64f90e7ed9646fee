//! `kiln plugins install|installed|remove|required`: Packer's plugin
//! commands. Every plugin kiln runs is built in, so these say what is
//! there and change nothing; exit codes as Packer's (1 for a plugin kiln
//! does not have, or one that cannot be removed).

use super::{print_diags, stderr_color};
use crate::frontend::hcl::version_satisfies;
use crate::plugin::{built_in_version, KNOWN_PLUGIN_SOURCES};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args)]
pub struct PluginsArgs {
    #[command(subcommand)]
    command: PluginsCommand,
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Install latest Packer plugin [matching version constraint] (built in: nothing to install)
    Install {
        /// The plugin's source, e.g. github.com/hashicorp/amazon
        plugin: String,
        /// A version constraint, e.g. ">= 1.2"
        version: Option<String>,
    },
    /// List all installed Packer plugins (kiln's built-in ones)
    Installed,
    /// Remove Packer plugins [matching a version] (built-in ones cannot be)
    Remove {
        plugin: String,
        version: Option<String>,
    },
    /// List plugins required by a config
    Required {
        /// HCL2 template file or directory
        template: PathBuf,
    },
}

fn unknown(plugin: &str) -> String {
    format!(
        "kiln has no built-in plugin {plugin:?}; its plugins are: {}",
        KNOWN_PLUGIN_SOURCES.join(", ")
    )
}

pub fn run(a: PluginsArgs) -> i32 {
    match a.command {
        PluginsCommand::Install { plugin, version } => {
            if !KNOWN_PLUGIN_SOURCES.contains(&plugin.as_str()) {
                eprintln!("Error: {}", unknown(&plugin));
                return 1;
            }
            if let Some(c) = &version {
                if let Err(e) = version_satisfies(c, "0.0.0") {
                    eprintln!("Error: {c:?}: {e}");
                    return 1;
                }
                if let Some(w) = super::init::release_warning(&plugin, c) {
                    eprintln!("Warning: {w}");
                }
            }
            println!("Plugin {plugin} is built into kiln: nothing to install.");
            0
        }
        PluginsCommand::Installed => {
            for p in KNOWN_PLUGIN_SOURCES {
                match built_in_version(p) {
                    Some(v) => println!("{p} (built into kiln; follows v{v})"),
                    None => println!("{p} (built into kiln)"),
                }
            }
            0
        }
        PluginsCommand::Remove { plugin, .. } => {
            if KNOWN_PLUGIN_SOURCES.contains(&plugin.as_str()) {
                eprintln!("Error: {plugin} is built into kiln and cannot be removed.");
            } else {
                eprintln!(
                    "Error: No installed plugin found matching the plugin constraints {plugin}"
                );
            }
            1
        }
        PluginsCommand::Required { template } => {
            if crate::frontend::is_legacy_json(&template) {
                eprintln!("Error: plugins required reads the packer.required_plugins blocks of HCL2 templates; a JSON template has none.");
                return 1;
            }
            let (required, diags) = crate::frontend::hcl::plugin_requirements(&template);
            print_diags(&diags, stderr_color());
            if diags.has_errors() {
                return 1;
            }
            for r in &required {
                match &r.version {
                    Some(c) => println!("{} {c} (built into kiln)", r.source),
                    None => println!("{} (built into kiln)", r.source),
                }
            }
            0
        }
    }
}
