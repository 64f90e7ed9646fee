//! The runner: executes a [`Graph`] — builds in parallel (bounded by
//! `-parallel-builds`), each build's steps in order, post-processor chains
//! after — and prints Packer's summary. Cancellation (Ctrl-C, SIGINT,
//! SIGTERM) stops the running steps and runs every cleanup.

pub mod interpolate;
pub mod steps;

use crate::builder;
use crate::communicator::Communicator;
use crate::graph::{BuildNode, Config, Graph, Step};
use crate::incremental::{Fingerprint, Reuse};
use crate::postprocessor;
use crate::provisioner;
use crate::ui::{human_duration, BuildUi, Ui};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    #[default]
    Cleanup,
    Abort,
    Ask,
    RunCleanupProvisioner,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BuildError {
    Cancelled,
    Failed(String),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Cancelled => write!(f, "Build was cancelled."),
            BuildError::Failed(s) => write!(f, "{s}"),
        }
    }
}

impl From<String> for BuildError {
    fn from(s: String) -> Self {
        BuildError::Failed(s)
    }
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub builder_type: String,
    pub id: String,
    pub files: Vec<PathBuf>,
    /// What the summary prints after `--> NAME: `.
    pub description: String,
    /// What a later post-processor may need to know of it, as Packer's
    /// `Artifact.State` (qemu: `diskName`, `diskType`, `domainType`).
    pub state: BTreeMap<String, String>,
    /// Found by `-reuse` (made by an earlier run from the same inputs),
    /// not built now.
    pub reused: bool,
}

/// Everything a step, provisioner or post-processor of one build may use.
pub struct BuildContext {
    pub ui: BuildUi,
    pub cancel: CancellationToken,
    /// Full build name (`demo.null.alpha`).
    pub full_name: String,
    /// `PACKER_BUILD_NAME`: the source name (`alpha`).
    pub build_name: String,
    pub builder_type: String,
    pub on_error: OnError,
    pub debug: bool,
    pub force: bool,
    pub run_uuid: String,
    /// `build.*` values generated while running (ID, Host, …).
    pub generated: Mutex<BTreeMap<String, String>>,
    /// Built from a JSON template: Packer's core then names post-processors
    /// by type and prefixes their output `NAME (TYPE)`.
    pub legacy_ui: bool,
    /// `-reuse`: look for an artifact made from the same inputs first, and
    /// keep a record of the inputs beside local artifacts.
    pub reuse: bool,
    /// What the build is made of as far as the graph says (the builder
    /// adds what it resolves), or why that cannot be known.
    pub inputs: Result<Fingerprint, String>,
}

impl BuildContext {
    /// The context of `node`'s build, its fingerprint's graph part computed.
    pub fn new(
        node: &BuildNode,
        ui: BuildUi,
        cancel: CancellationToken,
        opts: &RunOptions,
        run_uuid: String,
        sensitive: &[String],
    ) -> BuildContext {
        BuildContext {
            ui,
            cancel,
            full_name: node.name.clone(),
            build_name: node.source_name.clone(),
            builder_type: node.source_type.clone(),
            on_error: opts.on_error,
            debug: opts.debug,
            force: opts.force,
            run_uuid,
            generated: Mutex::new(BTreeMap::new()),
            legacy_ui: opts.legacy_ui,
            reuse: opts.reuse,
            // Hashing every uploaded file costs time: only when it is used.
            inputs: if opts.reuse
                || crate::incremental::rules::builder(&node.source_type)
                    .is_some_and(|r| r.kept_always)
            {
                crate::incremental::inputs::of_build(node, sensitive)
            } else {
                Err("-reuse was not asked for".into())
            },
        }
    }

    /// The same build, its output under another prefix (a post-processor's).
    fn with_ui(&self, ui: BuildUi) -> BuildContext {
        BuildContext {
            ui,
            cancel: self.cancel.clone(),
            full_name: self.full_name.clone(),
            build_name: self.build_name.clone(),
            builder_type: self.builder_type.clone(),
            on_error: self.on_error,
            debug: self.debug,
            force: self.force,
            run_uuid: self.run_uuid.clone(),
            generated: Mutex::new(self.generated()),
            legacy_ui: self.legacy_ui,
            reuse: self.reuse,
            inputs: self.inputs.clone(),
        }
    }
    pub fn set_generated(&self, k: &str, v: impl Into<String>) {
        if let Ok(mut g) = self.generated.lock() {
            g.insert(k.to_string(), v.into());
        }
    }
    pub fn generated(&self) -> BTreeMap<String, String> {
        self.generated.lock().map(|g| g.clone()).unwrap_or_default()
    }
    /// Wait `d`, or until cancelled.
    pub async fn sleep(&self, d: Duration) -> Result<(), BuildError> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.cancel.cancelled() => Err(BuildError::Cancelled),
        }
    }
}

/// Builders call this at their provisioning step.
#[async_trait]
pub trait ProvisionHook: Send + Sync {
    async fn provision(
        &self,
        ctx: &BuildContext,
        comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError>;
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub parallel_builds: usize,
    pub on_error: OnError,
    pub force: bool,
    pub debug: bool,
    /// Packer's output for JSON templates (set from the graph's front end).
    pub legacy_ui: bool,
    /// `-reuse`: an artifact made from the same inputs stands for the build.
    pub reuse: bool,
}

struct Hook<'a> {
    node: &'a BuildNode,
}

#[async_trait]
impl ProvisionHook for Hook<'_> {
    async fn provision(
        &self,
        ctx: &BuildContext,
        comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError> {
        for step in &self.node.provisioners {
            let r = run_provisioner(ctx, step, comm).await;
            if let Err(e) = r {
                if e != BuildError::Cancelled {
                    ctx.ui.say("Provisioning step had errors: Running the cleanup provisioner, if present...");
                    if let Some(cleanup) = &self.node.error_cleanup {
                        if ctx.on_error != OnError::Abort {
                            if let Err(ce) = run_provisioner(ctx, cleanup, comm).await {
                                ctx.ui
                                    .error(&format!("Error-cleanup provisioner failed: {ce}"));
                            }
                        }
                    }
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

async fn run_provisioner(
    ctx: &BuildContext,
    step: &Step,
    comm: Option<&dyn Communicator>,
) -> Result<(), BuildError> {
    if let Some(d) = step.pause_before {
        ctx.ui.say(&format!(
            "Pausing {} before the next provisioner...",
            crate::util::duration::format(d)
        ));
        ctx.sleep(d).await?;
    }
    let mut attempt = 0;
    loop {
        let config = late_config(step, &ctx.generated()).map_err(BuildError::Failed)?;
        let prov = provisioner::create(&step.kind, &config).map_err(BuildError::Failed)?;
        if ctx.debug {
            ctx.ui.say(&format!(
                "Pausing before provisioner {} (-debug): press Enter to continue",
                step.kind
            ));
            wait_for_enter(ctx).await?;
        }
        let fut = prov.provision(ctx, comm);
        let r = match step.timeout {
            Some(t) => match tokio::time::timeout(t, fut).await {
                Ok(r) => r,
                Err(_) => Err(BuildError::Failed(format!(
                    "Provisioner timed out after {}",
                    crate::util::duration::format(t)
                ))),
            },
            None => fut.await,
        };
        match r {
            Err(BuildError::Failed(e)) if attempt < step.max_retries => {
                attempt += 1;
                ctx.ui.say(&format!(
                    "Provisioner failed, retrying ({attempt}/{}): {e}",
                    step.max_retries
                ));
                ctx.sleep(Duration::from_secs(2)).await?;
            }
            other => return other,
        }
    }
}

/// Wait for Enter on stdin (EOF counts), or until the build is cancelled.
pub async fn wait_for_enter(ctx: &BuildContext) -> Result<(), BuildError> {
    read_answer(ctx).await.map(|_| ())
}

/// Read one line from stdin (`None` at EOF), or stop when the build is
/// cancelled. Parallel builds take turns: one prompt at a time.
pub async fn read_answer(ctx: &BuildContext) -> Result<Option<String>, BuildError> {
    static STDIN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = tokio::select! {
        g = STDIN.lock() => g,
        _ = ctx.cancel.cancelled() => return Err(BuildError::Cancelled),
    };
    let read = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        match std::io::stdin().read_line(&mut s) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(s),
        }
    });
    tokio::select! {
        r = read => Ok(r.ok().flatten()),
        _ = ctx.cancel.cancelled() => Err(BuildError::Cancelled),
    }
}

/// The outcome of one build.
pub struct BuildOutcome {
    pub name: String,
    pub artifacts: Vec<Artifact>,
    pub error: Option<BuildError>,
}

async fn run_build(
    node: BuildNode,
    index: usize,
    ui: Ui,
    cancel: CancellationToken,
    opts: RunOptions,
    run_uuid: String,
    sensitive: Arc<Vec<String>>,
) -> BuildOutcome {
    let bui = ui.build(&node.name, index);
    let start = Instant::now();
    let ctx = BuildContext::new(&node, bui.clone(), cancel, &opts, run_uuid, &sensitive);
    ctx.set_generated("PackerRunUUID", ctx.run_uuid.clone());
    ctx.set_generated("ConnType", "none");
    // Packer's value for a builder that has no machine id to give (qemu's,
    // say); the null builder and amazon-ebs set their own.
    ctx.set_generated("ID", "ERR_ID_NOT_IMPLEMENTED_BY_BUILDER");
    bui.event("build-start", &[]);
    let result = run_build_inner(&node, &ctx).await;
    let took = human_duration(start.elapsed());
    let outcome = match result {
        Ok(artifacts) => {
            bui.plain(&format!("Build '{}' finished after {took}.", node.name));
            BuildOutcome {
                name: node.name.clone(),
                artifacts,
                error: None,
            }
        }
        Err((e, artifacts)) => {
            match &e {
                BuildError::Cancelled => {
                    bui.error(&format!("Build '{}' cancelled after {took}.", node.name))
                }
                BuildError::Failed(msg) => bui.error(&format!(
                    "Build '{}' errored after {took}: {msg}",
                    node.name
                )),
            }
            BuildOutcome {
                name: node.name.clone(),
                artifacts,
                error: Some(e),
            }
        }
    };
    bui.event(
        "build-end",
        &[if outcome.error.is_none() {
            "ok"
        } else {
            "error"
        }],
    );
    outcome
}

async fn run_build_inner(
    node: &BuildNode,
    ctx: &BuildContext,
) -> Result<Vec<Artifact>, (BuildError, Vec<Artifact>)> {
    let b = builder::create(&node.source_type, &node.builder)
        .map_err(|e| (BuildError::Failed(e), vec![]))?;
    let hook = Hook { node };
    let reused = if ctx.reuse && !ctx.force {
        find_reusable(ctx, &*b).await.map_err(|e| (e, vec![]))?
    } else {
        None
    };
    let builder_artifact = match reused {
        Some(a) => Some(a),
        None => b.run(ctx, &hook).await.map_err(|e| (e, vec![]))?,
    };
    let Some(builder_artifact) = builder_artifact else {
        return Ok(vec![]);
    };
    let mut artifacts = Vec::new();
    let mut keep_original = node.post_processors.is_empty();
    let mut errors: Vec<String> = Vec::new();
    'chains: for chain in &node.post_processors {
        let mut prior = builder_artifact.clone();
        for (i, step) in chain.iter().enumerate() {
            if ctx.cancel.is_cancelled() {
                return Err((BuildError::Cancelled, artifacts));
            }
            // Packer 1.6.6 prints JSON and HCL2 post-processors differently.
            let pp_ctx;
            let ctx = if ctx.legacy_ui {
                ctx.ui.say(&format!(
                    "Running post-processor: {}",
                    step.name.clone().unwrap_or_else(|| step.kind.clone())
                ));
                let mut ui = ctx.ui.clone();
                ui.name = format!("{} ({})", ctx.ui.name, step.kind);
                pp_ctx = ctx.with_ui(ui);
                &pp_ctx
            } else {
                ctx.ui.say(&format!(
                    "Running post-processor: {} (type {})",
                    step.name.clone().unwrap_or_default(),
                    step.kind
                ));
                ctx
            };
            let config = match late_config(step, &ctx.generated()) {
                Ok(c) => c,
                Err(e) => {
                    errors.push(format!("Post-processor failed: {e}"));
                    continue 'chains;
                }
            };
            let pp = match postprocessor::create(&step.kind, &config) {
                Ok(pp) => pp,
                Err(e) => {
                    errors.push(format!("Post-processor failed: {e}"));
                    continue 'chains;
                }
            };
            let (artifact, default_keep) = match pp.process(ctx, prior.clone()).await {
                Ok(x) => x,
                Err(BuildError::Cancelled) => return Err((BuildError::Cancelled, artifacts)),
                Err(BuildError::Failed(e)) => {
                    errors.push(format!("Post-processor failed: {e}"));
                    continue 'chains;
                }
            };
            let keep = step.keep_input_artifact.unwrap_or(default_keep);
            if i == 0 {
                if keep {
                    keep_original = true;
                }
            } else if keep {
                artifacts.push(prior.clone());
            }
            prior = artifact;
        }
        artifacts.push(prior);
    }
    if keep_original {
        artifacts.push(builder_artifact);
    }
    if errors.is_empty() {
        Ok(artifacts)
    } else {
        Err((BuildError::Failed(errors.join("\n")), artifacts))
    }
}

/// `-reuse`: the artifact an earlier run made from the same inputs, if
/// the builder finds one; else say why the build runs (and, when an
/// earlier artifact of this build is known, which inputs changed).
async fn find_reusable(
    ctx: &BuildContext,
    b: &dyn builder::Builder,
) -> Result<Option<Artifact>, BuildError> {
    let fp = match &ctx.inputs {
        Ok(fp) => fp,
        Err(why) => {
            ctx.ui
                .say(&format!("Building: the inputs are not known ({why})"));
            return Ok(None);
        }
    };
    match b.reusable(ctx, fp, false).await? {
        Reuse::Found(mut a) => {
            a.reused = true;
            ctx.ui.say(&format!(
                "Up to date: reusing {} (made from the same inputs, {})",
                a.id,
                short(&fp.digest())
            ));
            Ok(Some(a))
        }
        Reuse::Build { inputs, newest } => {
            ctx.ui.say(&format!(
                "Building: no artifact was made from these inputs ({})",
                short(&inputs.digest())
            ));
            if let Some(e) = newest {
                for c in inputs.changes_since(&e.parts) {
                    ctx.ui.message(&format!("since {}: {c}", e.what));
                }
            }
            Ok(None)
        }
        Reuse::Unsupported(why) => {
            ctx.ui.say(&format!("Building: {why}"));
            Ok(None)
        }
    }
}

/// A digest as people read it: its first 12 hex digits.
pub fn short(digest: &str) -> &str {
    let d = digest.strip_prefix("v1-").unwrap_or(digest);
    &d[..12.min(d.len())]
}

/// Run every build of the graph; returns the process exit code.
pub async fn run(graph: Graph, ui: Ui, mut opts: RunOptions, cancel: CancellationToken) -> i32 {
    let start = Instant::now();
    opts.legacy_ui = graph.frontend == "json";
    let run_uuid = uuid::Uuid::new_v4().to_string();
    let sensitive = Arc::new(graph.sensitive.clone());
    if ui.colored() {
        for (i, b) in graph.builds.iter().enumerate() {
            ui.build(&b.name, i)
                .plain(&format!("{}: output will be in this color.", b.name));
        }
        ui.say("");
    }
    let limit = if opts.parallel_builds == 0 {
        usize::MAX
    } else {
        opts.parallel_builds
    };
    let sem = Arc::new(tokio::sync::Semaphore::new(
        limit.min(tokio::sync::Semaphore::MAX_PERMITS),
    ));
    let mut handles = Vec::new();
    for (i, node) in graph.builds.into_iter().enumerate() {
        // Take the permit before spawning so builds start in template order.
        let permit = sem.clone().acquire_owned().await;
        let (ui, cancel, opts, uuid) = (ui.clone(), cancel.clone(), opts.clone(), run_uuid.clone());
        let sensitive = sensitive.clone();
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            run_build(node, i, ui, cancel, opts, uuid, sensitive).await
        }));
    }
    let mut outcomes = Vec::new();
    for h in handles {
        match h.await {
            Ok(o) => outcomes.push(o),
            Err(e) => outcomes.push(BuildOutcome {
                name: "?".into(),
                artifacts: vec![],
                error: Some(BuildError::Failed(format!("build task failed: {e}"))),
            }),
        }
    }
    ui.say("");
    ui.say(&format!(
        "==> Wait completed after {}",
        human_duration(start.elapsed())
    ));
    ui.say("");
    let interrupted = cancel.is_cancelled();
    let failed: Vec<&BuildOutcome> = outcomes.iter().filter(|o| o.error.is_some()).collect();
    if interrupted {
        ui.error("Interrupted: every build was stopped and its cleanup run.");
        ui.say("");
    }
    if !failed.is_empty() {
        ui.error("==> Some builds didn't complete successfully and had errors:");
        for o in &failed {
            if let Some(e) = &o.error {
                ui.error(&format!("--> {}: {e}", o.name));
            }
        }
        ui.say("");
    }
    let any_artifacts = outcomes.iter().any(|o| !o.artifacts.is_empty());
    if any_artifacts {
        ui.say("==> Builds finished. The artifacts of successful builds are:");
        for o in &outcomes {
            for a in &o.artifacts {
                ui.say(&format!("--> {}: {}", o.name, a.description));
                ui.event(&o.name, "artifact", &[&a.builder_type, &a.id]);
            }
        }
    } else {
        ui.say("==> Builds finished but no artifacts were created.");
    }
    if interrupted || !failed.is_empty() {
        1
    } else {
        0
    }
}

/// A step's configuration with the build's values in: placeholders
/// replaced, and the arguments that read `build.*` evaluated again.
fn late_config(step: &Step, generated: &BTreeMap<String, String>) -> Result<Config, String> {
    let mut config = interpolate::render_config(&step.config, generated);
    for late in &step.late {
        config.insert(late.key.clone(), (late.eval)(generated)?);
    }
    Ok(config)
}
