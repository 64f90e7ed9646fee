//! The amazon-ebs steps (Packer's order; `AMAZON-EBS-STEPS.md` in the
//! shared anchors lists them), each with its cleanup beside its run, over
//! the typed [`State`] defined here.
//!
//! - [`lookup`]: what the build starts from (AMI name free, source AMI, network)
//! - [`access`]: how kiln reaches the instance (key pair, security group)
//! - [`iam`]: the instance's IAM instance profile
//! - [`launch`]: the source instance (on demand, or spot in [`spot`]), with
//!   the settings of [`options`]
//! - [`image`]: stop, create the AMI, copy, share, tag, keep

mod access;
mod iam;
mod image;
mod launch;
mod lookup;
mod options;
mod spot;

pub use access::{KeyPair, SecurityGroup};
pub use iam::IamInstanceProfile;
pub use image::{
    AmiAttributes, CreateAmi, Deprecate, Deregister, DeregistrationProtection, InputsTag, Keep,
    ModifyInstance, OnlyCopies, RegionCopy, StopInstance, Tags,
};
pub use launch::RunInstance;
pub use lookup::{resolve_source, Network, PreValidate, SourceAmi};

use crate::builder::amazon::client::Aws;
use crate::builder::amazon::config::EbsConfig;
use crate::builder::amazon::instance::InstanceInfo;
use crate::builder::amazon::journal::{Header, Journal};
use crate::builder::amazon::resources::{self, Resource};
use crate::builder::amazon::wait::Policy;
use crate::builder::common::Connected;
use crate::communicator::ssh::Ssh;
use crate::runner::interpolate::render_fields;
use crate::runner::{BuildContext, BuildError, OnError};
use aws_sdk_ec2::types::{Filter, Tag};
use aws_sdk_ec2::Client;
use russh::keys::PrivateKey;
use std::path::PathBuf;
use std::sync::Arc;

/// The AMI a build starts from (its fields feed `{{ .SourceAMI… }}`).
#[derive(Debug, Clone)]
pub struct SourceImage {
    pub id: String,
    pub root_device_name: Option<String>,
}

pub struct TempKey {
    pub private: Arc<PrivateKey>,
}

/// What the steps found and created, typed.
pub struct State {
    pub aws: Aws,
    pub ec2: Client,
    pub policy: Policy,
    journal: Option<Journal>,
    pub source: Option<SourceImage>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    /// The key pair the instance is launched with (temporary or named).
    pub launch_key_name: Option<String>,
    pub key: Option<TempKey>,
    /// The temporary key pair's CreateKeyPair, still in flight: the steps
    /// after it run meanwhile, and the launch waits for it ([`State::key_ready`]).
    pending_key: Option<tokio::sync::oneshot::Receiver<Result<String, String>>>,
    /// Why that call failed, once known.
    key_failed: Option<String>,
    key_pair: Option<Resource>,
    debug_key_file: Option<PathBuf>,
    pub group_ids: Vec<String>,
    temp_group: Option<Resource>,
    /// The temporary security group's calls, still in flight ([`State::begin_security_group`]).
    pending_group: Option<tokio::sync::oneshot::Receiver<access::GroupAnswer>>,
    /// The instance profile the instance runs with (named or temporary).
    pub instance_profile: Option<String>,
    temp_profile: Option<Resource>,
    pub instance: Option<InstanceInfo>,
    /// The instance's tags as launched (rendered, with the default Name);
    /// the build region's AMI and its snapshots get them too (`image`).
    run_tags: Vec<Tag>,
    instance_res: Option<Resource>,
    launch_template: Option<Resource>,
    volumes: Vec<Resource>,
    pub ssh: Option<Ssh>,
    /// AMIs being made (journaled until the build keeps them).
    images: Vec<Resource>,
    /// The AMI's description, rendered once by CreateAmi; its copies in
    /// other regions get the same words.
    ami_description: Option<String>,
    /// `(region, ami)` of every AMI made.
    pub amis: Vec<(String, String)>,
    /// `(region, snapshot)` of every AMI made.
    pub snapshots: Vec<(String, String)>,
    /// `(region, ami)` whose deregistration protection was turned on.
    protected: Vec<(String, String)>,
    keep: bool,
    /// The build's interrupt: a create still retrying a not-found answer
    /// (its names not yet visible) gives up once it fires.
    cancel: tokio_util::sync::CancellationToken,
    /// Create calls still in flight: an interrupt drops the step, not the
    /// call, and cleanups wait for these first (else a delete could reach
    /// EC2 before the create it should undo).
    inflight: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Temporary resources being deleted ahead of their cleanups, once the
    /// build no longer needs them ([`State::delete_early`]); each task
    /// answers which it deleted.
    early: std::sync::Mutex<Vec<tokio::task::JoinHandle<Vec<Resource>>>>,
    /// What those tasks deleted: its cleanup only has to say so.
    deleted_early: std::sync::Mutex<Vec<Resource>>,
    /// The source AMI's DescribeImages, sent while the AMI name is checked.
    prefetched_source: Option<
        tokio::sync::oneshot::Receiver<
            Result<aws_sdk_ec2::operation::describe_images::DescribeImagesOutput, String>,
        >,
    >,
}

impl Connected for State {
    fn ssh_slot(&mut self) -> &mut Option<Ssh> {
        &mut self.ssh
    }
}

fn failed(e: String) -> BuildError {
    BuildError::Failed(e)
}

fn short_uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl State {
    pub fn new(aws: Aws, cfg: &EbsConfig, ctx: &BuildContext) -> Result<State, BuildError> {
        let header = Header {
            kiln_journal: 1,
            pid: std::process::id(),
            build: ctx.full_name.clone(),
            region: cfg.access.region.clone(),
            endpoint: cfg.access.endpoint.clone(),
            profile: cfg.access.profile.clone(),
            shared_credentials_file: cfg.access.shared_credentials_file.clone(),
            skip_metadata_api_check: cfg.access.skip_metadata_api_check,
            role_arn: cfg.access.assume_role.as_ref().map(|r| r.role_arn.clone()),
            role_external_id: cfg
                .access
                .assume_role
                .as_ref()
                .and_then(|r| r.external_id.clone()),
            role_session_name: cfg
                .access
                .assume_role
                .as_ref()
                .and_then(|r| r.session_name.clone()),
            vault: cfg.access.vault.clone(),
            insecure_skip_tls_verify: cfg.access.insecure_skip_tls_verify,
            started: chrono::Utc::now().to_rfc3339(),
        };
        let journal = Journal::create(&header, &ctx.run_uuid).map_err(failed)?;
        tracing::debug!("cleanup journal: {}", journal.path().display());
        ctx.ui
            .event("journal", &[&journal.path().display().to_string()]);
        Ok(State {
            ec2: aws.ec2(),
            aws,
            policy: {
                let ui = ctx.ui.clone();
                Policy::new(cfg.access.poll_delay, cfg.access.poll_max_attempts)
                    .reporting(move |m| ui.message(m))
            },
            journal: Some(journal),
            source: None,
            vpc_id: cfg.vpc_id.clone(),
            subnet_id: cfg.subnet_id.clone(),
            availability_zone: cfg.availability_zone.clone(),
            launch_key_name: cfg.ssh_keypair_name.clone(),
            key: None,
            pending_key: None,
            key_failed: None,
            pending_group: None,
            key_pair: None,
            debug_key_file: None,
            group_ids: Vec::new(),
            temp_group: None,
            instance_profile: None,
            temp_profile: None,
            instance: None,
            run_tags: Vec::new(),
            instance_res: None,
            launch_template: None,
            volumes: Vec::new(),
            ssh: None,
            images: Vec::new(),
            amis: Vec::new(),
            snapshots: Vec::new(),
            protected: Vec::new(),
            keep: false,
            cancel: ctx.cancel.clone(),
            inflight: std::sync::Mutex::new(Vec::new()),
            early: std::sync::Mutex::new(Vec::new()),
            deleted_early: std::sync::Mutex::new(Vec::new()),
            prefetched_source: None,
            ami_description: None,
        })
    }

    /// Run a create call to its end even if the step is dropped.
    async fn shielded<T: Send + 'static>(
        &self,
        call: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, BuildError> {
        self.begin(call)
            .await
            .map_err(|_| failed("an EC2 call was lost".into()))
    }

    /// Start a call that runs to its end whatever happens to the build (a
    /// create, or a lookup a later step takes the answer of); its answer
    /// arrives on the receiver, and cleanups wait for it first.
    fn begin<T: Send + 'static>(
        &self,
        call: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let h = tokio::spawn(async move {
            let _ = tx.send(call.await);
        });
        if let Ok(mut v) = self.inflight.lock() {
            v.push(h);
        }
        rx
    }

    /// Wait for every create call still in flight.
    async fn settle(&self) {
        let pending: Vec<_> = self
            .inflight
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        for h in pending {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(120), h).await;
        }
    }

    /// Journal a resource before the call that creates it.
    fn track(&self, r: &Resource) -> Result<(), BuildError> {
        match &self.journal {
            Some(j) => j.add(r).map_err(failed),
            None => Ok(()),
        }
    }

    fn release(&self, r: &Resource) {
        if let Some(j) = &self.journal {
            j.done(r);
        }
    }

    /// Delete a tracked resource; say so, and what to do when it fails. A
    /// failed call is retried a few times whatever the error (a cleanup that
    /// gives up on the first glitch leaks).
    async fn delete(&self, ctx: &BuildContext, r: &Resource) {
        self.settle().await;
        if self.was_deleted_early(r).await {
            self.release(r);
            return;
        }
        let mut last = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
            }
            match resources::delete(&self.aws, r, &self.policy).await {
                Ok(()) => {
                    self.release(r);
                    return;
                }
                Err(e) => last = e,
            }
        }
        ctx.ui.error(&format!("Error cleaning up {}: {last}\n  It is still in the cleanup journal: run `kiln cleanup` to retry, or delete it manually.", r.describe()));
    }

    /// Start deleting `resources`, in order, in the background, because the
    /// build is done with them (the key pair once provisioning is over, the
    /// instance and what it holds once its AMI is made): on EC2 a terminate
    /// takes a minute that the AMI's copies and tags need not wait for. A
    /// resource's cleanup still says what it deletes, waits for this, and
    /// deletes again what this could not. Not with `-debug` or another
    /// `-on-error` than cleanup, where the user may want to look at them.
    fn delete_early(&self, ctx: &BuildContext, resources: Vec<Resource>) {
        if ctx.debug || ctx.on_error != OnError::Cleanup || resources.is_empty() {
            return;
        }
        let (aws, policy) = (self.aws.clone(), self.policy.clone());
        // What a failure stops is left to its own cleanup.
        let h =
            tokio::spawn(async move { resources::delete_in_order(&aws, resources, &policy).await });
        if let Ok(mut v) = self.early.lock() {
            v.push(h);
        }
    }

    /// Whether `r` was deleted by [`State::delete_early`] (waiting for it).
    async fn was_deleted_early(&self, r: &Resource) -> bool {
        let pending: Vec<_> = self
            .early
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        for h in pending {
            if let Ok(done) = h.await {
                if let Ok(mut d) = self.deleted_early.lock() {
                    d.extend(done);
                }
            }
        }
        self.deleted_early
            .lock()
            .is_ok_and(|d| d.iter().any(|x| x.same(r)))
    }

    pub fn finish_journal(&mut self) {
        if let Some(j) = self.journal.take() {
            j.finish();
        }
    }

    fn region(&self) -> &str {
        &self.aws.region
    }
}

/// `{{ .SourceAMI }}`-style fields of tag values and names, then `{{ build … }}`.
fn render(ctx: &BuildContext, s: &str) -> Result<String, BuildError> {
    let generated = ctx.generated();
    let fields: Vec<(&str, &str)> = generated
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    render_fields(s, &fields, &generated).map_err(|e| failed(format!("{s:?}: {e}")))
}

fn render_tags(ctx: &BuildContext, tags: &[(String, String)]) -> Result<Vec<Tag>, BuildError> {
    tags.iter()
        .map(|(k, v)| {
            Ok(Tag::builder()
                .key(render(ctx, k)?)
                .value(render(ctx, v)?)
                .build())
        })
        .collect()
}

fn say_tags(ctx: &BuildContext, tags: &[Tag]) {
    for t in tags {
        ctx.ui.message(&format!(
            "Adding tag: {:?}: {:?}",
            t.key().unwrap_or_default(),
            t.value().unwrap_or_default()
        ));
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn filters(f: &[(String, String)]) -> Vec<Filter> {
    f.iter()
        .map(|(k, v)| {
            Filter::builder()
                .name(k)
                .set_values(Some(v.split(',').map(|s| s.trim().to_string()).collect()))
                .build()
        })
        .collect()
}
