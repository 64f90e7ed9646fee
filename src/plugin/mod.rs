//! Plugin schemas and lookup. Every builder, provisioner, post-processor and
//! data source is built in; its schema says which arguments it accepts so the
//! front ends can reject unknown ones (with "did you mean") before a run.

pub mod options;

use crate::graph::Config;
use crate::value::Value;

pub use kiln_derive::Options;
pub use options::{OptionValue, Options, StringMap};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    String,
    Bool,
    Number,
    /// A Go duration string ("5s", "1h30m").
    Duration,
    Strings,
    StringMap,
    Any,
    /// A nested block that may appear once.
    Block(&'static [Field]),
    /// A nested block that may repeat.
    Blocks(&'static [Field]),
}

/// One option of a plugin: what `#[derive(Options)]` writes per field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// The option's `///` comment (empty where it has none).
    pub doc: &'static str,
    /// Why the option does nothing in kiln (empty: it does something).
    pub no_effect: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    Builder,
    Provisioner,
    PostProcessor,
    DataSource,
}

impl PluginKind {
    pub fn noun(self) -> &'static str {
        match self {
            PluginKind::Builder => "builder",
            PluginKind::Provisioner => "provisioner",
            PluginKind::PostProcessor => "post-processor",
            PluginKind::DataSource => "data source",
        }
    }
}

struct Entry {
    kind: PluginKind,
    name: &'static str,
    fields: &'static [&'static [Field]],
    validate: fn(&Config) -> Vec<String>,
}

const ENTRIES: &[Entry] = &[
    Entry {
        kind: PluginKind::Builder,
        name: "null",
        fields: &[crate::communicator::FIELDS],
        validate: crate::builder::null::validate,
    },
    Entry {
        kind: PluginKind::Builder,
        name: "amazon-ebs",
        fields: &[
            crate::communicator::FIELDS,
            crate::builder::amazon::config::AccessOptions::FIELDS,
            crate::builder::amazon::config::FIELDS,
        ],
        validate: crate::builder::amazon::validate,
    },
    Entry {
        kind: PluginKind::Builder,
        name: "qemu",
        fields: &[crate::communicator::FIELDS, crate::builder::qemu::FIELDS],
        validate: crate::builder::qemu::validate,
    },
    Entry {
        kind: PluginKind::Builder,
        name: "file",
        fields: &[crate::builder::file::FIELDS],
        validate: crate::builder::file::validate,
    },
    Entry {
        kind: PluginKind::Provisioner,
        name: "ansible",
        fields: &[crate::provisioner::ansible::FIELDS],
        validate: crate::provisioner::ansible::validate,
    },
    Entry {
        kind: PluginKind::Provisioner,
        name: "ansible-local",
        fields: &[crate::provisioner::ansible_local::FIELDS],
        validate: crate::provisioner::ansible_local::validate,
    },
    Entry {
        kind: PluginKind::Provisioner,
        name: "shell-local",
        fields: &[crate::provisioner::shell_local::FIELDS],
        validate: crate::provisioner::shell_local::validate,
    },
    Entry {
        kind: PluginKind::Provisioner,
        name: "file",
        fields: &[crate::provisioner::file::FIELDS],
        validate: crate::provisioner::file::validate,
    },
    Entry {
        kind: PluginKind::Provisioner,
        name: "shell",
        fields: &[crate::provisioner::shell::FIELDS],
        validate: crate::provisioner::shell::validate,
    },
    Entry {
        kind: PluginKind::Provisioner,
        name: "breakpoint",
        fields: &[crate::provisioner::breakpoint::FIELDS],
        validate: no_checks,
    },
    Entry {
        kind: PluginKind::Provisioner,
        name: "sleep",
        fields: &[crate::provisioner::sleep::FIELDS],
        validate: no_checks,
    },
    Entry {
        kind: PluginKind::PostProcessor,
        name: "artifice",
        fields: &[crate::postprocessor::artifice::FIELDS],
        validate: crate::postprocessor::artifice::validate,
    },
    Entry {
        kind: PluginKind::PostProcessor,
        name: "vagrant",
        fields: &[crate::postprocessor::vagrant::FIELDS],
        validate: crate::postprocessor::vagrant::validate,
    },
    Entry {
        kind: PluginKind::PostProcessor,
        name: "checksum",
        fields: &[crate::postprocessor::checksum::FIELDS],
        validate: crate::postprocessor::checksum::validate,
    },
    Entry {
        kind: PluginKind::PostProcessor,
        name: "compress",
        fields: &[crate::postprocessor::compress::FIELDS],
        validate: crate::postprocessor::compress::validate,
    },
    Entry {
        kind: PluginKind::PostProcessor,
        name: "manifest",
        fields: &[crate::postprocessor::manifest::FIELDS],
        validate: no_checks,
    },
    Entry {
        kind: PluginKind::PostProcessor,
        name: "shell-local",
        fields: &[crate::provisioner::shell_local::FIELDS],
        validate: crate::provisioner::shell_local::validate,
    },
    Entry {
        kind: PluginKind::DataSource,
        name: "amazon-ami",
        fields: crate::datasource::amazon_ami::FIELDS,
        validate: crate::datasource::amazon_ami::validate,
    },
    Entry {
        kind: PluginKind::DataSource,
        name: "git-repository",
        fields: &[crate::datasource::git::REPOSITORY_FIELDS],
        validate: crate::datasource::git::validate_repository,
    },
    Entry {
        kind: PluginKind::DataSource,
        name: "git-commit",
        fields: &[crate::datasource::git::COMMIT_FIELDS],
        validate: crate::datasource::git::validate_commit,
    },
    Entry {
        kind: PluginKind::DataSource,
        name: "git-tree",
        fields: &[crate::datasource::git::COMMIT_FIELDS],
        validate: crate::datasource::git::validate_commit,
    },
    Entry {
        kind: PluginKind::DataSource,
        name: "http",
        fields: &[crate::datasource::http::FIELDS],
        validate: crate::datasource::http::validate,
    },
    Entry {
        kind: PluginKind::DataSource,
        name: "kiln-debian-base",
        fields: &[crate::datasource::debian_base::FIELDS],
        validate: crate::datasource::debian_base::validate,
    },
    Entry {
        kind: PluginKind::DataSource,
        name: "null",
        fields: &[crate::datasource::null::FIELDS],
        validate: crate::datasource::null::validate,
    },
];

fn no_checks(_: &Config) -> Vec<String> {
    Vec::new()
}

fn entry(kind: PluginKind, name: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.kind == kind && e.name == name)
}

/// The argument names a plugin accepts (None: unknown plugin type).
pub fn fields(kind: PluginKind, name: &str) -> Option<Vec<Field>> {
    entry(kind, name).map(|e| e.fields.iter().flat_map(|f| f.iter().copied()).collect())
}

/// Names of the plugins of one kind, for "did you mean".
pub fn names(kind: PluginKind) -> Vec<&'static str> {
    ENTRIES
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.name)
        .collect()
}

/// Semantic checks a plugin makes on its configuration (Packer's `Prepare`),
/// less those that need a value not known yet ([`checks_on_known`]).
pub fn validate(kind: PluginKind, name: &str, config: &Config) -> Vec<String> {
    entry(kind, name)
        .map(|e| checks_on_known(config, e.validate))
        .unwrap_or_default()
}

/// The problems `check` finds in `config` that do not hang on a value
/// unknown until the build runs (a data source's output at `validate`, or
/// anything computed from one): those checks are made when the build has
/// the value. One mechanism for every plugin, whatever its checks: a
/// problem counts only if `check` also finds it with every option that
/// holds an unknown value left out. A problem that the unknown options
/// cause (`iso_url: <placeholder> does not exist`) is not found then, and
/// one that leaving them out causes ("iso_url is required") was not found
/// before; both are dropped, and every other check still runs.
pub fn checks_on_known(config: &Config, check: fn(&Config) -> Vec<String>) -> Vec<String> {
    let problems = check(config);
    if problems.is_empty() || !config.values().any(Value::contains_unknown) {
        return problems;
    }
    let known: Config = config
        .iter()
        .filter(|(_, v)| !v.contains_unknown())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let without = check(&known);
    problems
        .into_iter()
        .filter(|p| without.contains(p))
        .collect()
}

/// Plugin names `required_plugins` may list (all built in).
pub const KNOWN_PLUGIN_SOURCES: &[&str] = &[
    "github.com/hashicorp/amazon",
    "github.com/hashicorp/qemu",
    "github.com/hashicorp/null",
    "github.com/hashicorp/file",
    "github.com/hashicorp/vagrant",
    "github.com/ethanmdavidson/git",
    "github.com/hashicorp/ansible",
];

/// The release of a plugin whose options a built-in one follows, where it
/// follows one release's documentation (amazon-ebs and amazon-ami: that of
/// packer-plugin-amazon 1.7.0).
pub fn built_in_version(source: &str) -> Option<&'static str> {
    match source {
        "github.com/hashicorp/amazon" => Some("1.7.0"),
        _ => None,
    }
}

/// What a string option reads as while its value is not known yet: `validate`
/// without `-evaluate-datasources` leaves data sources' results unknown. The
/// option is set, as in Packer (which passes builders this same placeholder,
/// Terraform's `UnknownVariableValue`), so `source_ami = data.amazon-ami.x.id`
/// validates.
pub const UNKNOWN: &str = "74D93920-ED26-11E3-AC10-0800200C9A66";

/// Whether a list option has any item, known or not: a validation that
/// only needs the list not to be empty must count the items `validate`
/// cannot know yet (a data source's value), which a typed `Vec` read leaves
/// out.
pub fn has_items(c: &Config, k: &str) -> bool {
    match c.get(k) {
        Some(Value::Unknown) => true,
        Some(v) => v.as_seq().map_or_else(
            || crate::value::to_display_string(v).is_some(),
            |items| !items.is_empty(),
        ),
        None => false,
    }
}

/// Warn about each option set in `c` that has no effect in kiln (a
/// template written for Packer keeps validating, and is told why the
/// option does nothing rather than left to guess).
pub fn warn_no_effect(fields: &[Field], c: &Config, build_name: &str) {
    for f in fields.iter().filter(|f| !f.no_effect.is_empty()) {
        if is_set(c, f.name) {
            crate::ui::warn(&format!(
                "{build_name}: {} has no effect: {}",
                f.name, f.no_effect
            ));
        }
    }
}

pub fn is_set(c: &Config, k: &str) -> bool {
    c.get(k).is_some_and(|v| !v.is_null())
}
