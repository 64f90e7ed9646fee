//! `kiln cleanup [JOURNAL...]`: delete what a killed build left in the cloud.
//!
//! Every amazon-ebs build journals each temporary resource before creating
//! it; a build that ends (even in failure or on Ctrl-C) removes its journal.
//! A journal that is left belongs to a build that was killed (`kill -9`, a
//! power loss): this command deletes its resources — instances first, then
//! AMIs in the making, volumes, security groups and key pairs — and removes
//! the journal. With no argument it replays every journal whose build
//! process is gone. Credentials come from the usual chain (the environment,
//! the shared files, the instance role); the journal names the region,
//! endpoint, profile, role and Vault engine it needs, never a secret. A
//! profile whose role wants MFA takes the current code as `-mfa-code`.

use crate::builder::amazon::config::{Access, AssumeRole};
use crate::builder::amazon::journal;
use crate::builder::amazon::{client, resources, wait};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct CleanupArgs {
    /// Only list what would be deleted
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// The MFA code for a profile whose role asks for one (mfa_serial)
    #[arg(long = "mfa-code", value_name = "CODE")]
    mfa_code: Option<String>,
    /// Journals to replay (default: every orphaned journal)
    journals: Vec<PathBuf>,
}

pub fn run(a: CleanupArgs) -> i32 {
    let journals = if a.journals.is_empty() {
        journal::orphans()
    } else {
        a.journals.clone()
    };
    if journals.is_empty() {
        println!(
            "No cleanup journals left by killed builds in {}.",
            journal::dir().display()
        );
        return 0;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let mut code = 0;
    for j in journals {
        if let Err(e) = rt.block_on(replay(&j, a.dry_run, a.mfa_code.as_deref())) {
            eprintln!("Error: {}: {e}", j.display());
            code = 1;
        }
    }
    code
}

async fn replay(
    path: &std::path::Path,
    dry_run: bool,
    mfa_code: Option<&str>,
) -> Result<(), String> {
    let (header, mut pending) = journal::read(path)?;
    println!(
        "==> {}: build {} ({}), {} resource(s) left",
        path.display(),
        header.build,
        header.region,
        pending.len()
    );
    pending.sort_by_key(|r| r.order());
    if dry_run {
        for r in &pending {
            println!("    would delete {} in {}", r.describe(), r.region());
        }
        return Ok(());
    }
    let access = Access {
        region: header.region.clone(),
        endpoint: header.endpoint.clone(),
        profile: header.profile.clone(),
        shared_credentials_file: header.shared_credentials_file.clone(),
        skip_metadata_api_check: header.skip_metadata_api_check,
        skip_region_validation: true,
        assume_role: header.role_arn.clone().map(|role_arn| AssumeRole {
            role_arn,
            external_id: header.role_external_id.clone(),
            session_name: header.role_session_name.clone(),
            ..AssumeRole::default()
        }),
        vault: header.vault.clone(),
        mfa_code: mfa_code.map(str::to_string),
        insecure_skip_tls_verify: header.insecure_skip_tls_verify,
        ..Access::default()
    };
    let aws = client::load(&access).await;
    let policy = wait::Policy::new(None, None);
    let mut failures = Vec::new();
    for r in &pending {
        print!("    deleting {} in {} ... ", r.describe(), r.region());
        match resources::delete(&aws, r, &policy).await {
            Ok(()) => println!("done"),
            Err(e) => {
                println!("failed");
                failures.push(format!("{}: {e}", r.describe()));
            }
        }
    }
    if failures.is_empty() {
        std::fs::remove_file(path).map_err(|e| format!("removing the journal: {e}"))?;
        println!(
            "==> {}: everything deleted; journal removed",
            path.display()
        );
        Ok(())
    } else {
        Err(format!(
            "kept the journal; {} resource(s) could not be deleted:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}
