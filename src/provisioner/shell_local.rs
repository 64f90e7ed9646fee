//! shell-local: run commands and scripts on the machine running kiln, as a
//! provisioner or a post-processor.

use super::ExitCodes;
use super::Provisioner;
use crate::communicator::Communicator;
use crate::graph::Config;
use crate::plugin::{Field, Options, StringMap};
use crate::runner::interpolate::render_fields;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use std::io::Write;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The shell-local provisioner's and post-processor's options (Packer's
/// names).
#[derive(Options)]
pub struct ShellLocalOptions {
    /// One command, run with `execute_command`.
    command: String,
    /// Commands run one after the other, as one script.
    inline: Vec<String>,
    /// A local script to run.
    script: Option<String>,
    /// Local scripts to run, in order.
    scripts: Vec<String>,
    /// `KEY=value` pairs set for every script.
    environment_vars: Vec<String>,
    /// Variables set for every script, as a map.
    env: StringMap,
    /// How one variable is written into the command.
    #[option(default = "%s='%s' ")]
    env_var_format: String,
    /// The program and arguments that run a script (`{{.Vars}}`, `{{.Script}}`).
    execute_command: Option<Vec<String>>,
    /// The interpreter line of the inline script.
    #[option(default = "/bin/sh -e")]
    inline_shebang: String,
    /// Operating systems to run on (Go's names: `linux`, `darwin`...).
    only_on: Vec<String>,
    /// The extension of the temporary script file.
    tempfile_extension: String,
    /// Accepted for Packer's Windows paths; kiln runs on Unix only.
    #[allow(dead_code)] // accepted for Packer's templates; kiln needs no value
    use_linux_pathing: bool,
    /// Exit codes that count as success.
    valid_exit_codes: ExitCodes,
    /// Post-processor: keep the artifact it was given.
    #[allow(dead_code)] // the runner reads it from the step
    keep_input_artifact: bool,
}

pub const FIELDS: &[Field] = ShellLocalOptions::FIELDS;

pub fn validate(c: &Config) -> Vec<String> {
    match ShellLocalOptions::from_config(c) {
        Ok(o) => check(&o, c),
        Err(e) => vec![e],
    }
}

/// The checks across options; `c` tells which lists hold items not known
/// yet.
fn check(o: &ShellLocalOptions, c: &Config) -> Vec<String> {
    let mut errs = Vec::new();
    // Unknown items (a data source's value at validate) count as there.
    let has_inline = crate::plugin::has_items(c, "inline");
    let scripts: Vec<&String> = o.script.iter().chain(&o.scripts).collect();
    if o.command.is_empty() && !has_inline && scripts.is_empty() {
        errs.push("Command, Inline, Script and Scripts options cannot all be empty.".into());
    }
    let used = [!o.command.is_empty(), has_inline, !scripts.is_empty()]
        .iter()
        .filter(|b| **b)
        .count();
    if used > 1 {
        errs.push("Only one of Command, Inline, Script and Scripts may be set.".into());
    }
    for s in scripts {
        if s.contains("{{") {
            continue;
        }
        if let Err(e) = std::fs::metadata(s) {
            errs.push(format!("Bad script '{s}': {e}"));
        }
    }
    errs.extend(super::check_env_vars(&o.environment_vars));
    if o.execute_command.as_ref().is_some_and(|c| c.is_empty()) {
        errs.push("execute_command must not be empty".into());
    }
    errs
}

pub struct ShellLocal {
    command: String,
    inline: Vec<String>,
    scripts: Vec<String>,
    env_vars: Vec<String>,
    env: Vec<(String, String)>,
    env_var_format: String,
    execute_command: Vec<String>,
    inline_shebang: String,
    only_on: Vec<String>,
    tempfile_extension: String,
    valid_exit_codes: Vec<i64>,
}

impl ShellLocal {
    pub fn new(c: &Config) -> Result<ShellLocal, String> {
        let o = ShellLocalOptions::from_config(c)?;
        let errs = check(&o, c);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        let execute_command = o.execute_command.unwrap_or_else(|| {
            vec![
                "/bin/sh".into(),
                "-c".into(),
                "{{.Vars}} {{.Script}}".into(),
            ]
        });
        Ok(ShellLocal {
            command: o.command,
            inline: o.inline,
            scripts: o.script.into_iter().chain(o.scripts).collect(),
            env_vars: o.environment_vars,
            env: o.env.into_iter().collect(),
            env_var_format: o.env_var_format,
            execute_command,
            inline_shebang: o.inline_shebang,
            only_on: o.only_on,
            tempfile_extension: o.tempfile_extension,
            valid_exit_codes: o.valid_exit_codes.0,
        })
    }

    fn flattened_env(&self, ctx: &BuildContext) -> (String, Vec<(String, String)>) {
        super::flatten_env(ctx, &self.env_vars, &self.env, &self.env_var_format)
    }

    /// Run the configured commands: the provisioner's work and the
    /// post-processor's.
    pub async fn run(&self, ctx: &BuildContext) -> Result<(), BuildError> {
        if !self.only_on.is_empty() {
            let os = std::env::consts::OS;
            if !self.only_on.iter().any(|o| o == os) {
                ctx.ui.say("Skipping shell-local due to runtime OS");
                return Ok(());
            }
        }
        let mut temp_files = Vec::new();
        let mut scripts = self.scripts.clone();
        let body = if !self.inline.is_empty() {
            Some(self.inline.join("\n"))
        } else if !self.command.is_empty() {
            Some(self.command.clone())
        } else {
            None
        };
        if let Some(body) = body {
            let mut tf = tempfile::Builder::new()
                .prefix("packer-shell")
                .suffix(&self.tempfile_extension)
                .tempfile()
                .map_err(|e| format!("Error preparing shell script: {e}"))?;
            writeln!(tf, "#!{}", self.inline_shebang)
                .and_then(|_| writeln!(tf, "{body}"))
                .map_err(|e| format!("Error preparing shell script: {e}"))?;
            let path = tf.into_temp_path();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700));
            }
            scripts = vec![path.to_string_lossy().into_owned()];
            temp_files.push(path);
        }
        let (flat, env) = self.flattened_env(ctx);
        let generated = ctx.generated();
        for shown in &scripts {
            ctx.ui.say(&format!("Running local shell script: {shown}"));
            // Run by its absolute path, as Packer does: a bare `setup.sh`
            // is the file beside the template's working directory, not a
            // command looked up in PATH.
            let script = &std::path::absolute(shown)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| shown.clone());
            let argv: Vec<String> = self
                .execute_command
                .iter()
                .map(|a| {
                    render_fields(
                        a,
                        &[
                            ("Vars", flat.as_str()),
                            ("Script", script.as_str()),
                            ("Command", script.as_str()),
                        ],
                        &generated,
                    )
                })
                .collect::<Result<_, _>>()
                .map_err(|e| format!("Error processing command: {e}"))?;
            let code = run_streaming(ctx, &argv, &env).await?;
            super::check_exit(code as i64, &self.valid_exit_codes)?;
        }
        drop(temp_files);
        Ok(())
    }
}

/// Run argv, streaming stdout as messages and stderr as errors, line by line
/// while it runs. The child is killed if the build is cancelled.
pub async fn run_streaming(
    ctx: &BuildContext,
    argv: &[String],
    env: &[(String, String)],
) -> Result<i32, BuildError> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| BuildError::Failed("empty command".into()))?;
    let mut child = tokio::process::Command::new(prog)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .map_err(|e| BuildError::Failed(format!("Error executing script: {prog}: {e}")))?;
    let pid = child.id();
    // However this ends (the step dropped by an interrupt included), the
    // script's whole process group goes with it, not only the script.
    let group = pid.map(crate::util::procs::GroupGuard);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let ui_out = ctx.ui.clone();
    let ui_err = ctx.ui.clone();
    let out_task = tokio::spawn(async move {
        if let Some(s) = stdout {
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                ui_out.message(&l);
            }
        }
    });
    let err_task = tokio::spawn(async move {
        if let Some(s) = stderr {
            let mut lines = BufReader::new(s).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                ui_err.error(&l);
            }
        }
    });
    let status = tokio::select! {
        s = child.wait() => s.map_err(|e| BuildError::Failed(format!("waiting for {prog}: {e}")))?,
        _ = ctx.cancel.cancelled() => {
            // The whole process group: the script and whatever it started.
            if let Some(pid) = pid {
                unsafe { libc::kill(-(pid as i32), libc::SIGTERM); }
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), child.wait()).await;
            let _ = child.kill().await;
            if let Some(pid) = pid {
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL); }
            }
            return Err(BuildError::Cancelled);
        }
    };
    if let Some(g) = group {
        g.done();
    }
    let _ = out_task.await;
    let _ = err_task.await;
    Ok(status.code().unwrap_or(-1))
}

#[async_trait]
impl Provisioner for ShellLocal {
    async fn provision(
        &self,
        ctx: &BuildContext,
        _comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError> {
        self.run(ctx).await
    }
}
