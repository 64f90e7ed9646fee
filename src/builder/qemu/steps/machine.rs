//! The VM itself: run qemu (with its cleanup, a QMP powerdown then a
//! kill), wait for boot, connect while watching it, shut it down.

use super::*;

// ---- run qemu --------------------------------------------------------------------

pub struct RunQemu<'a> {
    pub cfg: &'a QemuConfig,
}

impl RunQemu<'_> {
    fn args(&self, s: &State, scratch: &Path) -> Vec<String> {
        let c = self.cfg;
        let mut net = String::from("user,id=user.0,restrict=on");
        if !c.communicator_none && !c.skip_nat_mapping {
            net.push_str(&format!(
                ",hostfwd=tcp:127.0.0.1:{}-:{}",
                s.host_port, c.guest_port
            ));
        }
        if let Some(h) = &s.http {
            let exe = std::env::current_exe()
                .map(|p| p.to_string_lossy().to_string())
                .unwrap_or_else(|_| "kiln".into());
            net.push_str(&format!(
                ",guestfwd=tcp:{GUEST_HTTP_IP}:{p}-cmd:{exe} __guestfwd 127.0.0.1:{p}",
                p = h.port
            ));
        }
        let drive = |disk: &Path| {
            let mut d = format!(
                "file={},if={},cache={},discard={},format={}",
                disk.display(),
                c.disk_interface,
                c.disk_cache,
                c.disk_discard,
                c.format
            );
            if c.disk_detect_zeroes != "off" {
                d.push_str(&format!(",detect-zeroes={}", c.disk_detect_zeroes));
            }
            d
        };
        let headless = c.headless || std::env::var_os("DISPLAY").is_none();
        // Defaults, each a flag with its values; a qemuargs row with the same flag replaces it.
        let mut defaults: Vec<Vec<String>> = vec![
            vec!["-name".into(), c.vm_name.clone()],
            vec![
                "-machine".into(),
                format!("type={},accel={}", c.machine_type, s.accel),
            ],
            vec!["-m".into(), format!("{}M", c.memory)],
            vec!["-smp".into(), smp(c)],
            vec!["-netdev".into(), net],
            vec!["-device".into(), format!("{},netdev=user.0", c.net_device)],
            vec!["-drive".into(), drive(&s.disk)],
            vec![
                "-qmp".into(),
                format!(
                    "unix:{},server=on,wait=off",
                    scratch.join("qmp.sock").display()
                ),
            ],
            vec![
                "-serial".into(),
                format!("file:{}", scratch.join("console.log").display()),
            ],
        ];
        // UEFI firmware picks its boot device itself (as in the plugin).
        if c.efi.is_none() {
            defaults.push(vec![
                "-boot".into(),
                if c.disk_image { "c" } else { "once=d" }.into(),
            ]);
        }
        defaults.extend(
            s.extra_disks
                .iter()
                .map(|d| vec!["-drive".into(), drive(d)]),
        );
        if headless {
            defaults.push(vec!["-display".into(), "none".into()]);
        } else if let Some(d) = c.display.as_ref().filter(|_| !c.use_default_display) {
            defaults.push(vec!["-display".into(), d.clone()]);
        }
        let mut cds: Vec<&Path> = Vec::new();
        if !c.disk_image {
            cds.push(&c.source);
        }
        if let Some(cd) = &s.cd {
            cds.push(cd);
        }
        defaults.extend(cd_drives(&cds, c.cdrom_interface.as_deref()));
        if let Some(f) = &s.floppy {
            defaults.push(vec!["-fda".into(), f.display().to_string()]);
        }
        if let Some(fw) = &c.firmware {
            defaults.push(if c.use_pflash {
                vec![
                    "-drive".into(),
                    format!("file={},if=pflash,format=raw,readonly=on", fw.display()),
                ]
            } else {
                vec!["-bios".into(), fw.display().to_string()]
            });
        }
        if let (Some(efi), Some(vars)) = (&c.efi, &s.efivars) {
            defaults.push(vec![
                "-drive".into(),
                format!(
                    "file={},if=pflash,unit=0,format=raw,readonly=on",
                    efi.code.display()
                ),
            ]);
            defaults.push(vec![
                "-drive".into(),
                format!("file={},if=pflash,unit=1,format=raw", vars.display()),
            ]);
        }
        if let Some(v) = &c.vga {
            defaults.push(vec!["-vga".into(), v.clone()]);
        }
        if let Some(m) = &c.cpu_model {
            defaults.push(vec!["-cpu".into(), m.clone()]);
        }
        let vars = template_vars(c, s);
        let user: Vec<Vec<String>> = c
            .qemuargs
            .iter()
            .map(|row| row.iter().map(|a| interpolate(a, &vars)).collect())
            .collect();
        let replaced: Vec<&String> = user
            .iter()
            .filter_map(|r| r.first())
            .filter(|f| defaults.iter().any(|d| &d[0] == *f))
            .collect();
        // The QMP socket and the console log are kiln's own; the netdev too, unless the user replaces it.
        let mut out: Vec<String> = Vec::new();
        for d in &defaults {
            if !replaced.contains(&&d[0]) || d[0] == "-qmp" {
                out.extend(d.iter().cloned());
            }
        }
        for r in &user {
            if r.first().map(String::as_str) == Some("-qmp") {
                continue;
            }
            out.extend(r.iter().cloned());
        }
        out
    }
}

/// The CD drives: qemu's default CD (`-cdrom` for the first) unless
/// `cdrom_interface` names a bus; `virtio-scsi` puts them on a SCSI
/// controller of their own.
fn cd_drives(cds: &[&Path], interface: Option<&str>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, cd) in cds.iter().enumerate() {
        let file = cd.display();
        match interface {
            None if i == 0 => out.push(vec!["-cdrom".into(), file.to_string()]),
            None => out.push(vec![
                "-drive".into(),
                format!("file={file},media=cdrom,readonly=on"),
            ]),
            Some("virtio-scsi") => {
                if i == 0 {
                    out.push(vec!["-device".into(), "virtio-scsi-pci,id=cdscsi".into()]);
                }
                out.push(vec![
                    "-drive".into(),
                    format!("file={file},if=none,id=cdrom{i},media=cdrom,readonly=on"),
                ]);
                out.push(vec![
                    "-device".into(),
                    format!("scsi-cd,drive=cdrom{i},bus=cdscsi.0"),
                ]);
            }
            Some(bus) => out.push(vec![
                "-drive".into(),
                format!("file={file},if={bus},id=cdrom{i},media=cdrom,readonly=on"),
            ]),
        }
    }
    out
}

#[async_trait]
impl Step<State> for RunQemu<'_> {
    fn name(&self) -> &'static str {
        "StepRun"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let scratch = s.scratch()?;
        let args = self.args(s, &scratch);
        ctx.ui.say(if self.cfg.disk_image {
            "Starting VM, booting disk image"
        } else {
            "Starting VM, booting from CD-ROM"
        });
        tracing::debug!(qemu = %self.cfg.qemu_binary, "starting qemu {}", ctx.ui.redact(&args.join(" ")));
        let mut cmd = tokio::process::Command::new(&self.cfg.qemu_binary);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group (a terminal's Ctrl-C reaches kiln, which shuts
        // the guest down in order), and it dies with kiln even on `kill -9`.
        cmd.process_group(0);
        // SAFETY: prctl in the child between fork and exec; async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            failed(if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} is not installed (Debian: qemu-system-x86)",
                    self.cfg.qemu_binary
                )
            } else {
                format!("starting {}: {e}", self.cfg.qemu_binary)
            })
        })?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let stderr = child.stderr.take();
        let (tx, rx) = watch::channel(None);
        let ui = ctx.ui.clone();
        tokio::spawn(async move {
            let mut err_text = String::new();
            if let Some(e) = stderr {
                let mut lines = BufReader::new(e).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    tracing::debug!(target: "qemu", "{}", ui.redact(&l));
                    if err_text.len() < 4096 {
                        err_text.push_str(&l);
                        err_text.push('\n');
                    }
                }
            }
            let status = child
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string());
            let _ = tx.send(Some(format!(
                "{status}{}{}",
                if err_text.is_empty() { "" } else { ": " },
                err_text.trim()
            )));
        });
        s.vm = Some(Vm {
            pid,
            exited: rx,
            qmp: scratch.join("qmp.sock"),
        });
        // A qemu that refuses its arguments exits at once: report that here.
        if let Some(vm) = &mut s.vm {
            if let Ok(Ok(())) =
                tokio::time::timeout(Duration::from_millis(300), vm.exited.changed()).await
            {
                let why = vm.exited.borrow().clone().unwrap_or_default();
                return Err(failed(format!("Error launching VM: qemu exited: {why}")));
            }
        }
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if let Some(vm) = s.vm.take() {
            if vm.exited.borrow().is_none() {
                ctx.ui.say("Stopping the virtual machine...");
                stop(vm).await;
            }
        }
    }
}

async fn wait_exit(vm: &mut Vm, d: Duration) -> bool {
    if vm.exited.borrow().is_some() {
        return true;
    }
    let mut rx = vm.exited.clone();
    let done = tokio::time::timeout(d, rx.wait_for(|v| v.is_some()))
        .await
        .is_ok();
    done
}

/// Stop qemu now: QMP quit, then SIGTERM, then SIGKILL.
async fn stop(mut vm: Vm) {
    let _ = qmp::command(&vm.qmp, "quit").await;
    if wait_exit(&mut vm, Duration::from_secs(3)).await {
        return;
    }
    // SAFETY: signalling a child we started; its pid is not reused while we hold its wait task.
    unsafe {
        libc::kill(vm.pid, libc::SIGTERM);
    }
    if wait_exit(&mut vm, Duration::from_secs(5)).await {
        return;
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(vm.pid, libc::SIGKILL);
    }
    wait_exit(&mut vm, Duration::from_secs(5)).await;
}

// ---- boot wait -------------------------------------------------------------------

pub struct BootWait<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for BootWait<'_> {
    fn name(&self) -> &'static str {
        "StepBootWait"
    }
    async fn run(&self, _s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if let Some(d) = self.cfg.boot_wait.filter(|d| !d.is_zero()) {
            ctx.ui.say(&format!("Waiting {}s for boot...", d.as_secs()));
            ctx.sleep(d).await?;
        }
        Ok(())
    }
}

// ---- connect, failing fast when the guest dies --------------------------------------

pub struct Connect<'a> {
    pub inner: crate::builder::common::StepConnect<'a, State>,
}

#[async_trait]
impl Step<State> for Connect<'_> {
    fn name(&self) -> &'static str {
        "StepConnect"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let Some(mut exited) = s.vm.as_ref().map(|v| v.exited.clone()) else {
            return self.inner.run(s, ctx).await;
        };
        // The connection first: with `communicator = "none"` it is ready at
        // once, and a guest that powered itself off (an unattended install
        // at its end) is how such a build is meant to go on.
        let raced = tokio::select! {
            biased;
            r = self.inner.run(s, ctx) => Some(r),
            _ = exited.wait_for(|v| v.is_some()) => None,
        };
        let r = raced.unwrap_or_else(|| {
            let why = exited.borrow().clone().unwrap_or_default();
            Err(failed(format!(
                "the virtual machine stopped before SSH became available ({why})"
            )))
        });
        r.map_err(|e| match e {
            BuildError::Failed(m) => {
                let tail = s.console_tail(15);
                if tail.trim().is_empty() {
                    BuildError::Failed(m)
                } else {
                    BuildError::Failed(format!("{m}\nLast lines of the guest's console:\n{tail}"))
                }
            }
            other => other,
        })
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        self.inner.cleanup(s, ctx).await;
    }
}

// ---- shutdown --------------------------------------------------------------------

pub struct Shutdown<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for Shutdown<'_> {
    fn name(&self) -> &'static str {
        "StepShutdown"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let timeout = self.cfg.shutdown_timeout;
        match (&self.cfg.shutdown_command, s.ssh.take()) {
            (Some(cmd), Some(ssh)) => {
                ctx.ui.say("Gracefully halting virtual machine...");
                use crate::communicator::Communicator;
                // The connection drops as the machine goes down: not an error.
                let _ =
                    tokio::time::timeout(Duration::from_secs(30), ssh.run(cmd, &mut |_| {})).await;
                ssh.close().await;
            }
            (_, ssh) => {
                if let Some(ssh) = ssh {
                    ssh.close().await;
                }
                ctx.ui
                    .say("Halting the virtual machine (ACPI power button)...");
                if let Some(vm) = &s.vm {
                    let _ = qmp::command(&vm.qmp, "system_powerdown").await;
                }
            }
        }
        let Some(vm) = s.vm.as_mut() else {
            return Ok(());
        };
        let done = tokio::select! {
            d = wait_exit(vm, timeout) => d,
            _ = ctx.cancel.cancelled() => return Err(BuildError::Cancelled),
        };
        if !done {
            if self.cfg.shutdown_command.is_some() {
                return Err(failed("Timeout while waiting for machine to shutdown."));
            }
            ctx.ui
                .error("The machine did not power off in time; stopping it.");
            if let Some(vm) = s.vm.take() {
                stop(vm).await;
            }
        }
        Ok(())
    }
}

/// `-smp`: the CPU count, with the topology where the template sets one
/// (`cpus=4,sockets=1,cores=2,threads=2`, as Packer writes it).
fn smp(c: &QemuConfig) -> String {
    if c.topology.is_empty() {
        return c.cpus.to_string();
    }
    let mut out = format!("cpus={}", c.cpus);
    for (name, v) in &c.topology {
        out.push_str(&format!(",{name}={v}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> QemuConfig {
        let v = crate::value::Value::from_json(&serde_json::from_str(json).expect("json"));
        let c: crate::graph::Config = v
            .as_attrs()
            .expect("object")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        QemuConfig::from_config(&c, "t").expect("config")
    }

    #[test]
    fn smp_is_the_cpu_count_with_the_topology_the_template_sets() {
        let dir = tempfile::tempdir().expect("tmp");
        let iso = dir.path().join("x.iso");
        std::fs::write(&iso, b"iso").expect("write");
        let base = format!(
            r#""iso_url": "{}", "iso_checksum": "none", "communicator": "none""#,
            iso.display()
        );
        assert_eq!(smp(&config(&format!("{{{base}, \"cpus\": 2}}"))), "2");
        assert_eq!(
            smp(&config(&format!(
                "{{{base}, \"cpus\": 4, \"sockets\": 1, \"cores\": 2, \"threads\": 2}}"
            ))),
            "cpus=4,sockets=1,cores=2,threads=2"
        );
        assert_eq!(
            smp(&config(&format!("{{{base}, \"cores\": 2}}"))),
            "cpus=1,cores=2"
        );
    }

    #[test]
    fn qemuargs_replace_defaults_and_interpolate() {
        assert_eq!(
            interpolate(
                "http://{{ .HTTPIP }}:{{.HTTPPort}}/",
                &[("HTTPIP", "10.0.2.2".into()), ("HTTPPort", "8080".into())]
            ),
            "http://10.0.2.2:8080/"
        );
    }
}
