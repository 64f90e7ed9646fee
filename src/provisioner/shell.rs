//! shell: run commands and scripts on the machine over its communicator.

use super::{need_comm, ExitCodes, Provisioner};
use crate::communicator::ssh::{sh_quote, DISCONNECTED};
use crate::communicator::Communicator;
use crate::communicator::Output;
use crate::graph::Config;
use crate::plugin::{Options, StringMap};
use crate::runner::interpolate::render_fields;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use std::io::Write;
use std::time::{Duration, Instant};

/// What the combined command prints on stderr when it cannot write the
/// script (never shown).
const UPLOAD_FAILED: &str = "__kiln_script_upload_failed__";

/// The shell provisioner's options (Packer's names).
#[derive(Options)]
pub struct ShellOptions {
    /// Commands run one after the other, as one script.
    inline: Vec<String>,
    /// A local script to upload and run.
    script: Option<String>,
    /// Local scripts to upload and run, in order.
    scripts: Vec<String>,
    /// `KEY=value` pairs set for every script.
    environment_vars: Vec<String>,
    /// Variables set for every script, as a map.
    env: StringMap,
    /// How one variable is written into the command (`%s='%s' `).
    env_var_format: Option<String>,
    /// The command that runs a script (`{{.Vars}}`, `{{.Path}}`).
    execute_command: Option<String>,
    /// The interpreter line of the inline script.
    #[option(default = "/bin/sh -e")]
    inline_shebang: String,
    /// The folder scripts are uploaded to.
    #[option(default = "/tmp")]
    remote_folder: String,
    /// The file name scripts are uploaded as.
    remote_file: Option<String>,
    /// The full path scripts are uploaded to (folder and file).
    remote_path: Option<String>,
    /// Leave the uploaded script on the machine.
    skip_clean: bool,
    /// A disconnect while a script runs is not an error (a reboot).
    expect_disconnect: bool,
    /// How long to retry starting a script while the machine is unreachable.
    #[option(default = Duration::from_secs(300))]
    start_retry_timeout: Duration,
    /// Exit codes that count as success.
    valid_exit_codes: ExitCodes,
    /// A pause after the provisioner has run.
    pause_after: Option<Duration>,
    /// Send scripts as they are (else CRLF line ends become LF).
    binary: bool,
    /// Write the variables to a file the command sources (`{{.EnvVarFile}}`).
    use_env_var_file: bool,
}

pub const FIELDS: &[crate::plugin::Field] = ShellOptions::FIELDS;

pub fn validate(c: &Config) -> Vec<String> {
    match ShellOptions::from_config(c) {
        Ok(o) => check(&o, c),
        Err(e) => vec![e],
    }
}

/// The checks across options; `c` tells which lists hold items not known
/// yet.
fn check(o: &ShellOptions, c: &Config) -> Vec<String> {
    let mut errs = Vec::new();
    // Unknown items (a data source's value at validate) count as there.
    let has_inline = crate::plugin::has_items(c, "inline");
    let scripts: Vec<&String> = o.script.iter().chain(&o.scripts).collect();
    if !has_inline && scripts.is_empty() {
        errs.push("Either a script file or inline script must be specified.".into());
    }
    if has_inline && !scripts.is_empty() {
        errs.push("Only a script file or an inline script can be specified, not both.".into());
    }
    for s in scripts {
        if let Err(e) = std::fs::metadata(s) {
            errs.push(format!("Bad script '{s}': {e}"));
        }
    }
    errs.extend(super::check_env_vars(&o.environment_vars));
    errs
}

pub struct Shell {
    inline: Vec<String>,
    scripts: Vec<String>,
    env_vars: Vec<String>,
    env: Vec<(String, String)>,
    env_var_format: String,
    execute_command: String,
    inline_shebang: String,
    remote_path: String,
    skip_clean: bool,
    /// `binary`: send scripts as they are (else CRLF line ends become LF).
    binary: bool,
    /// `use_env_var_file`: the variables go to this file on the machine,
    /// which the command sources (`{{.EnvVarFile}}`), instead of inline.
    env_var_file: Option<String>,
    expect_disconnect: bool,
    start_retry_timeout: Duration,
    valid_exit_codes: Vec<i64>,
    pause_after: Option<Duration>,
}

impl Shell {
    pub fn new(c: &Config) -> Result<Shell, String> {
        let o = ShellOptions::from_config(c)?;
        let errs = check(&o, c);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        let scripts = o.script.into_iter().chain(o.scripts).collect();
        let folder = &o.remote_folder;
        // Packer draws from 0..9999; builds sharing a host (parallel builds,
        // CI runners) then meet another user's file at the same path, which
        // they can neither overwrite nor remove. Nine digits make that
        // practically impossible.
        let file = o.remote_file.unwrap_or_else(|| {
            format!(
                "script_{}.sh",
                uuid::Uuid::new_v4().as_u128() % 1_000_000_000
            )
        });
        let env_var_file = o.use_env_var_file.then(|| {
            format!(
                "{folder}/varfile_{}.sh",
                uuid::Uuid::new_v4().as_u128() % 1_000_000_000
            )
        });
        let (format, command) = if o.use_env_var_file {
            (
                "export %s='%s'\n",
                "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}",
            )
        } else {
            ("%s='%s' ", "chmod +x {{.Path}}; {{.Vars}} {{.Path}}")
        };
        Ok(Shell {
            inline: o.inline,
            scripts,
            env_vars: o.environment_vars,
            env: o.env.into_iter().collect(),
            env_var_format: o.env_var_format.unwrap_or_else(|| format.into()),
            execute_command: o.execute_command.unwrap_or_else(|| command.into()),
            inline_shebang: o.inline_shebang,
            remote_path: o.remote_path.unwrap_or_else(|| format!("{folder}/{file}")),
            skip_clean: o.skip_clean,
            binary: o.binary,
            env_var_file,
            expect_disconnect: o.expect_disconnect,
            start_retry_timeout: o.start_retry_timeout,
            valid_exit_codes: o.valid_exit_codes.0,
            pause_after: o.pause_after,
        })
    }

    /// Run the combined upload-and-execute command, retrying while the
    /// script cannot be delivered (no connection yet, a reboot in progress,
    /// the upload refused) until `start_retry_timeout`. The outer error
    /// ends the build; the inner result is the command's exit status or
    /// why it did not finish.
    async fn run_script(
        &self,
        ctx: &BuildContext,
        comm: &dyn Communicator,
        cmd: &str,
        body: Option<&[u8]>,
    ) -> Result<Result<i32, String>, BuildError> {
        let deadline = Instant::now() + self.start_retry_timeout;
        let mut pause = Duration::from_millis(500);
        loop {
            let ui = ctx.ui.clone();
            let mut refused = false;
            let mut out = |o: Output| match o {
                Output::Stdout(l) => ui.message(l),
                Output::Stderr(l) if l == UPLOAD_FAILED => refused = true,
                Output::Stderr(l) => ui.error(l),
            };
            let result = match body {
                Some(body) => comm.run_with_input(cmd, body, &mut out).await,
                None => comm.run(cmd, &mut out).await,
            };
            let retry_why = match &result {
                Ok(_) if refused => "the remote side could not write the script".to_string(),
                Ok(_) => return Ok(result),
                Err(e) if e == DISCONNECTED => return Ok(result),
                Err(e) if crate::communicator::ssh::did_not_start(e) => e.clone(),
                Err(_) => return Ok(result),
            };
            if Instant::now() + pause >= deadline {
                return Err(BuildError::Failed(format!(
                    "Error uploading script: {retry_why}"
                )));
            }
            tracing::debug!("retrying: {retry_why}");
            ctx.sleep(pause).await?;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Retry `f` until it succeeds or `start_retry_timeout` passes (the
    /// machine may be rebooting).
    async fn retry<F, Fut>(&self, ctx: &BuildContext, mut f: F) -> Result<(), BuildError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let deadline = Instant::now() + self.start_retry_timeout;
        let mut pause = Duration::from_millis(500);
        loop {
            match f().await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() + pause < deadline => {
                    tracing::debug!("retrying: {e}");
                    ctx.sleep(pause).await?;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(BuildError::Failed(format!("Error uploading script: {e}"))),
            }
        }
    }

    async fn run_scripts(
        &self,
        ctx: &BuildContext,
        comm: &dyn Communicator,
        scripts: &[String],
        flat: &str,
        env_var_file: &str,
    ) -> Result<(), BuildError> {
        for script in scripts {
            ctx.ui
                .say(&format!("Provisioning with shell script: {script}"));
            let path = &self.remote_path;
            let body = std::fs::read(script)
                .map_err(|e| BuildError::Failed(format!("Error reading script {script}: {e}")))?;
            let body = if self.binary { body } else { unix_lines(&body) };
            let exec = render_fields(
                &self.execute_command,
                &[
                    ("Vars", flat),
                    ("Path", path.as_str()),
                    ("EnvVarFile", env_var_file),
                ],
                &ctx.generated(),
            )
            .map_err(|e| BuildError::Failed(format!("Error processing command: {e}")))?;
            // One round trip: the script arrives on stdin, then runs, then
            // is removed (each SSH session costs the remote login shell's
            // start-up; Packer spends four). In a pseudo-terminal (ssh_pty)
            // stdin carries no data: the script is uploaded first.
            let q = sh_quote(path);
            let mut cmd = if comm.pty() {
                self.retry(ctx, || comm.upload_bytes(&body, path)).await?;
                format!("chmod 0755 {q}\n{exec}")
            } else {
                format!("{{ cat > {q} && chmod 0755 {q}; }} || {{ echo {UPLOAD_FAILED} >&2; exit 1; }}\n{exec}")
            };
            if !self.skip_clean {
                cmd.push_str(&format!("\n__kiln_rc=$?; rm -f {q}; exit $__kiln_rc"));
            }
            let result = self
                .run_script(ctx, comm, &cmd, (!comm.pty()).then_some(body.as_slice()))
                .await?;
            let mut cleaned = !self.skip_clean;
            match result {
                Ok(code) => super::check_exit(code as i64, &self.valid_exit_codes)?,
                Err(e) if e == DISCONNECTED => {
                    if !self.expect_disconnect {
                        return Err(BuildError::Failed("Script disconnected unexpectedly. If you expected your script to disconnect, i.e. from a restart, you can try adding `\"expect_disconnect\": true` or `\"valid_exit_codes\": [0, 2300218]` to the shell provisioner parameters.".into()));
                    }
                    ctx.ui
                        .say("Remote end disconnected while executing Shell script.");
                    cleaned = false;
                }
                Err(e) => return Err(BuildError::Failed(e)),
            }
            if !self.skip_clean && !cleaned {
                // After a disconnect the machine may still be coming back.
                self.retry(ctx, || async move {
                    let code = comm
                        .run(&format!("rm -f {}", sh_quote(path)), &mut |_| {})
                        .await?;
                    if code != 0 {
                        return Err(format!("rm -f {path} exited with {code}"));
                    }
                    Ok(())
                })
                .await
                .map_err(|e| {
                    BuildError::Failed(format!("Error removing temporary script at {path}: {e}"))
                })?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Provisioner for Shell {
    async fn provision(
        &self,
        ctx: &BuildContext,
        comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError> {
        let comm = need_comm("shell", comm)?;
        // Inline commands become one script, as Packer writes it.
        let mut temp = None;
        let mut scripts = self.scripts.clone();
        if !self.inline.is_empty() {
            let mut f = tempfile::Builder::new()
                .prefix("packer-shell")
                .tempfile()
                .map_err(|e| BuildError::Failed(format!("Error preparing shell script: {e}")))?;
            let mut text = format!("#!{}\n", self.inline_shebang);
            for l in &self.inline {
                text.push_str(l);
                text.push('\n');
            }
            f.write_all(text.as_bytes())
                .map_err(|e| BuildError::Failed(format!("Error preparing shell script: {e}")))?;
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = f
                    .as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o755));
            }
            scripts.push(f.path().display().to_string());
            temp = Some(f);
        }
        let (flat, _) = super::flatten_env(ctx, &self.env_vars, &self.env, &self.env_var_format);
        if let Some(vf) = &self.env_var_file {
            let flat = flat.as_str();
            // Made 0600 before the values arrive: they may be secrets.
            self.retry(ctx, || async move {
                let code = comm
                    .run(
                        &format!("(umask 077 && : > {q}) && chmod 600 {q}", q = sh_quote(vf)),
                        &mut |_| {},
                    )
                    .await?;
                if code != 0 {
                    return Err(format!("creating {vf} exited with {code}"));
                }
                comm.upload_bytes(flat.as_bytes(), vf).await
            })
            .await?;
        }
        let result = self
            .run_scripts(
                ctx,
                comm,
                &scripts,
                &flat,
                self.env_var_file.as_deref().unwrap_or_default(),
            )
            .await;
        if let (Some(vf), false) = (&self.env_var_file, self.skip_clean) {
            // The variables may be secrets: the file goes even when a script failed.
            if let Err(e) = comm
                .run(&format!("rm -f {}", sh_quote(vf)), &mut |_| {})
                .await
            {
                ctx.ui.message(&format!("Could not remove {vf}: {e}"));
            }
        }
        drop(temp);
        result?;
        if let Some(d) = self.pause_after {
            ctx.ui.say(&format!(
                "Pausing {} after this provisioner...",
                crate::util::duration::format(d)
            ));
            ctx.sleep(d).await?;
        }
        Ok(())
    }
}

/// A script as Packer sends one that is not `binary`: every line ends in
/// LF, a CR before it dropped (a script saved on Windows would otherwise
/// fail in `sh` with "$'\r': command not found"), the last line too.
fn unix_lines(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 1);
    for line in b.split_inclusive(|c| *c == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_remote_paths_do_not_collide_between_builds() {
        let mut c = Config::new();
        c.insert(
            "inline".into(),
            crate::value::Value::Tuple(vec![crate::value::Value::from("true")]),
        );
        let paths: std::collections::HashSet<String> = (0..2000)
            .map(|_| Shell::new(&c).map(|s| s.remote_path).unwrap_or_default())
            .collect();
        // With Packer's 0..9999, 2000 draws collide almost surely.
        assert_eq!(paths.len(), 2000);
        assert!(
            paths
                .iter()
                .all(|p| p.starts_with("/tmp/script_") && p.ends_with(".sh")),
            "{paths:?}"
        );
    }

    #[test]
    fn crlf_becomes_lf_and_the_last_line_is_ended() {
        assert_eq!(
            super::unix_lines(b"echo one\r\necho two\r\n"),
            b"echo one\necho two\n"
        );
        assert_eq!(super::unix_lines(b"a\nb"), b"a\nb\n");
        assert_eq!(super::unix_lines(b"a\r\r\n"), b"a\r\n");
        assert_eq!(super::unix_lines(b""), b"");
        assert_eq!(super::unix_lines(b"keep\rinside\n"), b"keep\rinside\n");
    }
}
