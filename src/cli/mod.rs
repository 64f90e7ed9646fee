//! Command line: Packer's command names, flags and exit codes.

mod build;
mod cleanup;
mod console;
mod fix;
mod fmt;
mod guestfwd;
mod hcl2_upgrade;
mod init;
mod inspect;
mod log;
mod plan;
mod plugins;
mod validate;

use crate::diag::{render, Diags};
use crate::frontend::hcl::LoadOptions;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "kiln",
    about = "Build machine images from Packer templates",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build image(s) from a template
    Build(build::BuildArgs),
    /// Say which builds `build -reuse` would reuse or build, and what changed (kiln extension)
    Plan(plan::PlanArgs),
    /// Check that a template is valid
    Validate(validate::ValidateArgs),
    /// See the components of a template
    Inspect(inspect::InspectArgs),
    /// Evaluate expressions against a template's variables and locals
    Console(console::ConsoleArgs),
    /// Delete the cloud resources of builds that were killed (kiln extension)
    Cleanup(cleanup::CleanupArgs),
    /// Install missing plugins (all of kiln's are built in: checks required_plugins)
    Init(init::InitArgs),
    /// Interact with Packer plugins (all of kiln's are built in)
    Plugins(plugins::PluginsArgs),
    /// Rewrite HCL2 templates and var files in canonical format
    Fmt(fmt::FmtArgs),
    /// Fix a legacy JSON template written for an older Packer
    Fix(fix::FixArgs),
    /// Transform a JSON template into an HCL2 configuration
    #[command(name = "hcl2_upgrade", alias = "hcl2-upgrade")]
    Hcl2Upgrade(hcl2_upgrade::Hcl2UpgradeArgs),
    /// Prints the kiln version
    Version(VersionArgs),
    #[command(name = "__guestfwd", hide = true)]
    GuestFwd(guestfwd::GuestFwdArgs),
}

/// `kiln version`: the version, and the Packer release whose templates,
/// flags and exit codes kiln follows.
fn version(a: VersionArgs) -> i32 {
    let v = env!("CARGO_PKG_VERSION");
    if a.machine_readable {
        let ui = crate::ui::Ui::new(
            crate::ui::UiOptions {
                machine_readable: true,
                ..Default::default()
            },
            Vec::new(),
        );
        ui.event("", "version", &[v]);
        ui.event("", "version-prelease", &[""]);
        ui.event("", "version-commit", &[""]);
        ui.say(&format!("kiln v{v}"));
        return 0;
    }
    println!("kiln v{v}");
    println!(
        "Compatible with Packer v{}",
        crate::frontend::hcl::PACKER_COMPAT_VERSION
    );
    0
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Machine-readable output
    #[arg(long = "machine-readable")]
    machine_readable: bool,
}

/// Flags shared by the commands that load a template.
#[derive(Args, Debug, Clone, Default)]
pub struct VarArgs {
    /// Variable for templates, can be used multiple times (name=value)
    #[arg(long = "var", value_name = "NAME=VALUE", num_args = 1)]
    pub var: Vec<String>,
    /// JSON or HCL2 file containing user variables, can be used multiple times
    #[arg(long = "var-file", value_name = "PATH", num_args = 1)]
    pub var_file: Vec<PathBuf>,
}

impl VarArgs {
    pub fn load_options(&self, path: PathBuf) -> Result<LoadOptions, String> {
        let mut vars = Vec::new();
        for v in &self.var {
            match v.split_once('=') {
                Some((k, val)) => vars.push((k.trim().to_string(), val.to_string())),
                None => return Err(format!("invalid value {v:?} for -var: expected NAME=VALUE")),
            }
        }
        Ok(LoadOptions {
            path,
            vars,
            var_files: self.var_file.clone(),
            ..LoadOptions::default()
        })
    }
}

/// Packer's flags are single-dash (`-var`, `-only=x`); clap wants two. Accept both.
fn normalise_args(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_dashdash = false;
    let mut machine_readable = false;
    for (i, a) in args.enumerate() {
        if i == 0 || after_dashdash {
            out.push(a);
            continue;
        }
        if a == "--" {
            after_dashdash = true;
            out.push(a);
            continue;
        }
        // Packer takes `-machine-readable` anywhere on the line (before
        // the command, after the template) and for every command.
        if a == "-machine-readable" || a == "--machine-readable" {
            machine_readable = true;
            continue;
        }
        if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 && a != "-" {
            out.push(format!("-{a}"));
        } else {
            out.push(a);
        }
    }
    if machine_readable {
        // Right after the command, for the commands whose output has a
        // machine-readable form; the others print as they do.
        if let Some(at) = out.iter().skip(1).position(|a| !a.starts_with('-')) {
            if MACHINE_READABLE_COMMANDS.contains(&out[at + 1].as_str()) {
                out.insert(at + 2, "--machine-readable".into());
            }
        }
    }
    out
}

const MACHINE_READABLE_COMMANDS: &[&str] = &["build", "validate", "inspect", "version"];

/// clap's words with Packer's single-dash flags: `--var-file` becomes
/// `-var-file` (as [`normalise_args`] reads it), a bare `--` stays.
fn single_dash(text: &str) -> String {
    static FLAG: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(^|[\s'\[(<,])--([A-Za-z])").expect("a valid pattern")
    });
    FLAG.replace_all(text, "$1-$2").into_owned()
}

/// Print diagnostics to stderr; colour when stderr is a terminal.
/// What `build` and `plan` start from: the template loaded (data sources
/// evaluated), the builds `-only`/`-except` name, a [`crate::ui::Ui`]
/// masking the template's secrets, and a runtime to run them on.
pub struct Prepared {
    pub graph: crate::graph::Graph,
    pub ui: crate::ui::Ui,
    pub rt: tokio::runtime::Runtime,
}

/// The options `build` and `plan` share.
pub struct PrepareArgs<'a> {
    pub vars: &'a VarArgs,
    pub template: &'a std::path::Path,
    pub only: &'a [String],
    pub except: &'a [String],
    pub warn_undeclared_var: bool,
    pub color: bool,
    pub machine_readable: bool,
    pub timestamp: bool,
}

/// Load and select as `build` does; `Err` is the exit code, the reason
/// already printed.
pub fn prepare(a: PrepareArgs) -> Result<Prepared, i32> {
    let mut opts = a.vars.load_options(a.template.to_path_buf()).map_err(|e| {
        eprintln!("Error: {e}");
        1
    })?;
    opts.evaluate_datasources = true;
    opts.warn_undeclared_var = a.warn_undeclared_var;
    opts.only = a.only.to_vec();
    opts.except = a.except.to_vec();
    let (loaded, diags) = crate::frontend::load(&opts);
    print_diags(&diags, stderr_color() && a.color);
    let mut loaded = loaded.ok_or(1)?;
    if diags.has_errors() {
        return Err(1);
    }
    loaded.graph.select(a.only, a.except).map_err(|e| {
        eprintln!("Error: {e}");
        1
    })?;
    let ui = crate::ui::Ui::new(
        crate::ui::UiOptions {
            color: a.color && !a.machine_readable,
            machine_readable: a.machine_readable,
            timestamp: a.timestamp,
        },
        loaded.graph.sensitive.clone(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("Error: starting the runtime: {e}");
            1
        })?;
    Ok(Prepared {
        graph: loaded.graph,
        ui,
        rt,
    })
}

pub fn print_diags(diags: &Diags, color: bool) {
    if diags.is_empty() {
        return;
    }
    eprint!("{}", render(&diags.0, color));
}

pub fn stderr_color() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn main() -> i32 {
    // A write over the file-size limit must fail as an error kiln can clean
    // up after (EFBIG), not kill the process half-way (SIGXFSZ's default).
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN at start-up, before
    // any thread exists, has no memory-safety requirements.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    log::init();
    let args = normalise_args(std::env::args());
    // Packer's `-v` / `-version` / `--version`: the bare version number.
    if args.len() == 2 && matches!(args[1].as_str(), "-v" | "--version" | "--v") {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // Help and errors name the flags as they are typed (`-var`).
            let text = single_dash(&e.render().to_string());
            return if e.use_stderr() {
                eprint!("{text}");
                1
            } else {
                print!("{text}");
                0
            };
        }
    };
    match cli.command {
        Command::Build(a) => build::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Console(a) => console::run(a),
        Command::Fmt(a) => fmt::run(a),
        Command::Fix(a) => fix::run(a),
        Command::Init(a) => init::run(a),
        Command::Plugins(a) => plugins::run(a),
        Command::Cleanup(a) => cleanup::run(a),
        Command::GuestFwd(a) => guestfwd::run(a),
        Command::Hcl2Upgrade(a) => hcl2_upgrade::run(a),
        Command::Version(a) => version(a),
    }
}
