//! The temporary resources an amazon-ebs build creates, how each is found
//! when only the name or client token kiln chose is known, and how each is
//! deleted. Shared by the steps' cleanups and `kiln cleanup`, so a journal
//! replay deletes exactly as a normal cleanup does.

use super::client::{error_code, is_not_found, sdk_error, Aws};
use super::wait::{self, Policy, Poll};
use crate::builder::amazon::consistency::{eventually_within, GONE};
use aws_sdk_ec2::types::{Filter, InstanceStateName};
use aws_sdk_ec2::Client;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    KeyPair {
        region: String,
        name: String,
    },
    SecurityGroup {
        region: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vpc_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    Instance {
        region: String,
        client_token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// An AMI in the making (or a copy): deleted unless the build finishes.
    Image {
        region: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    Volume {
        region: String,
        id: String,
    },
    /// The launch template of a spot request.
    LaunchTemplate {
        region: String,
        name: String,
    },
    /// A temporary IAM role, its inline policy and an instance profile, all
    /// with the same name (IAM is global; `region` signs the calls).
    InstanceProfile {
        region: String,
        name: String,
    },
}

impl Resource {
    /// Whether two records are about the same resource.
    pub fn same(&self, o: &Resource) -> bool {
        use Resource::*;
        match (self, o) {
            (KeyPair { region: a, name: n }, KeyPair { region: b, name: m }) => a == b && n == m,
            (
                SecurityGroup {
                    region: a, name: n, ..
                },
                SecurityGroup {
                    region: b, name: m, ..
                },
            ) => a == b && n == m,
            (
                Instance {
                    region: a,
                    client_token: n,
                    ..
                },
                Instance {
                    region: b,
                    client_token: m,
                    ..
                },
            ) => a == b && n == m,
            (
                Image {
                    region: a, name: n, ..
                },
                Image {
                    region: b, name: m, ..
                },
            ) => a == b && n == m,
            (Volume { region: a, id: n }, Volume { region: b, id: m }) => a == b && n == m,
            (LaunchTemplate { region: a, name: n }, LaunchTemplate { region: b, name: m }) => {
                a == b && n == m
            }
            (InstanceProfile { name: n, .. }, InstanceProfile { name: m, .. }) => n == m,
            _ => false,
        }
    }

    /// Take the newer record's details (an id learnt after the intent).
    pub fn merge(&mut self, newer: Resource) {
        *self = newer;
    }

    pub fn region(&self) -> &str {
        match self {
            Resource::KeyPair { region, .. }
            | Resource::SecurityGroup { region, .. }
            | Resource::Instance { region, .. }
            | Resource::Image { region, .. }
            | Resource::Volume { region, .. }
            | Resource::LaunchTemplate { region, .. }
            | Resource::InstanceProfile { region, .. } => region,
        }
    }

    /// Deletion order: instances first (they hold groups, keys and volumes).
    pub fn order(&self) -> u8 {
        match self {
            Resource::Instance { .. } => 0,
            Resource::LaunchTemplate { .. } => 1,
            Resource::Image { .. } => 2,
            Resource::Volume { .. } => 3,
            Resource::SecurityGroup { .. } => 4,
            Resource::KeyPair { .. } => 5,
            Resource::InstanceProfile { .. } => 6,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Resource::KeyPair { name, .. } => format!("key pair {name}"),
            Resource::SecurityGroup { name, id, .. } => {
                format!("security group {}", id.as_deref().unwrap_or(name))
            }
            Resource::Instance {
                client_token, id, ..
            } => format!(
                "instance {}",
                id.clone()
                    .unwrap_or_else(|| format!("with client token {client_token}"))
            ),
            Resource::Image { name, id, .. } => format!(
                "AMI {}",
                id.clone().unwrap_or_else(|| format!("named {name:?}"))
            ),
            Resource::Volume { id, .. } => format!("volume {id}"),
            Resource::LaunchTemplate { name, .. } => format!("launch template {name}"),
            Resource::InstanceProfile { name, .. } => {
                format!("IAM role and instance profile {name}")
            }
        }
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// The tag every instance kiln launches carries (set atomically by
/// RunInstances), so it can be found when the response was lost. EC2 has a
/// `client-token` filter for the same purpose, but not every EC2 API
/// (moto, say) implements it; tags work everywhere.
pub const TOKEN_TAG: &str = "kiln:token";

/// Instances (not yet terminated) launched with `token`.
pub async fn instances_by_token(ec2: &Client, token: &str) -> Result<Vec<String>, String> {
    let out = ec2
        .describe_instances()
        .filters(filter(&format!("tag:{TOKEN_TAG}"), token))
        .send()
        .await
        .map_err(|e| sdk_error("DescribeInstances", &e))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated))
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect())
}

/// Terminate instances and, with a `wait` policy, wait until they are gone
/// (their volumes and security group can be deleted only then).
async fn terminate(ec2: &Client, ids: &[String], wait: Option<&Policy>) -> Result<(), String> {
    if ids.is_empty() {
        return Ok(());
    }
    match eventually_within("TerminateInstances", GONE, || {
        ec2.terminate_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
    })
    .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(sdk_error("TerminateInstances", &e)),
    }
    let Some(policy) = wait else { return Ok(()) };
    wait::until(
        &format!("instance {} to terminate", ids.join(", ")),
        policy,
        || async {
            let out = ec2
                .describe_instances()
                .set_instance_ids(Some(ids.to_vec()))
                .send()
                .await;
            let out = match out {
                Ok(o) => o,
                Err(e) if is_not_found(&e) => return Ok(Poll::Ready(())),
                Err(e) => return Err(sdk_error("DescribeInstances", &e)),
            };
            let states: Vec<String> = out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter_map(|i| {
                    i.state()
                        .and_then(|s| s.name())
                        .map(|n| n.as_str().to_string())
                })
                .collect();
            if states.iter().all(|s| s == "terminated") {
                Ok(Poll::Ready(()))
            } else {
                Ok(Poll::Pending(states.join(", ")))
            }
        },
    )
    .await
}

/// AMIs owned by this account with `name`, and their snapshots.
pub async fn images_named(ec2: &Client, name: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let out = ec2
        .describe_images()
        .owners("self")
        .filters(filter("name", name))
        .send()
        .await
        .map_err(|e| sdk_error("DescribeImages", &e))?;
    Ok(out
        .images()
        .iter()
        .filter_map(|i| i.image_id().map(|id| (id.to_string(), snapshots_of(i))))
        .collect())
}

pub fn snapshots_of(i: &aws_sdk_ec2::types::Image) -> Vec<String> {
    i.block_device_mappings()
        .iter()
        .filter_map(|b| b.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
        .collect()
}

/// Deregister an AMI and delete its snapshots.
pub async fn delete_image(ec2: &Client, id: &str, snapshots: &[String]) -> Result<(), String> {
    match eventually_within("DeregisterImage", GONE, || {
        ec2.deregister_image().image_id(id).send()
    })
    .await
    {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(sdk_error("DeregisterImage", &e)),
    }
    for s in snapshots {
        match eventually_within("DeleteSnapshot", GONE, || {
            ec2.delete_snapshot().snapshot_id(s).send()
        })
        .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(sdk_error("DeleteSnapshot", &e)),
        }
    }
    Ok(())
}

/// How long a group may stay in use once its instance is gone: EC2
/// releases it a little after the termination.
fn release_bound() -> Policy {
    Policy {
        timeout: Duration::from_secs(300),
        ..Policy::new(None, None)
    }
}

async fn delete_group(ec2: &Client, id: &str, bound: &Policy) -> Result<(), String> {
    // Retry while EC2 says the group is still in use.
    wait::until(
        &format!("security group {id} to be released"),
        bound,
        || async {
            match eventually_within("DeleteSecurityGroup", GONE, || {
                ec2.delete_security_group().group_id(id).send()
            })
            .await
            {
                Ok(_) => Ok(Poll::Ready(())),
                Err(e) if is_not_found(&e) => Ok(Poll::Ready(())),
                Err(e) if error_code(&e).as_deref() == Some("DependencyViolation") => {
                    Ok(Poll::Pending("in use".into()))
                }
                Err(e) => Err(sdk_error("DeleteSecurityGroup", &e)),
            }
        },
    )
    .await
}

/// Undo a temporary instance profile in the reverse order of its making;
/// each part that is already gone (or never came to be) is skipped.
async fn delete_instance_profile(iam: &aws_sdk_iam::Client, name: &str) -> Result<(), String> {
    macro_rules! gone_ok {
        ($op:literal, $call:expr) => {
            match $call.send().await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(sdk_error($op, &e)),
            }
        };
    }
    // Remove the role only if the profile holds it: asking to remove a role
    // that was never added is an error of its own kind (moto even fails it
    // with HTTP 500), which would keep the rest from being deleted.
    match iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(out) => {
            if out
                .instance_profile()
                .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == name))
            {
                gone_ok!(
                    "RemoveRoleFromInstanceProfile",
                    iam.remove_role_from_instance_profile()
                        .instance_profile_name(name)
                        .role_name(name)
                );
            }
            gone_ok!(
                "DeleteInstanceProfile",
                iam.delete_instance_profile().instance_profile_name(name)
            );
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(sdk_error("GetInstanceProfile", &e)),
    }
    gone_ok!(
        "DeleteRolePolicy",
        iam.delete_role_policy().role_name(name).policy_name(name)
    );
    gone_ok!("DeleteRole", iam.delete_role().role_name(name));
    Ok(())
}

/// Delete `resources` in order, stopping at the first failure (the rest
/// may wait on it: a group on its instance); answers those deleted. An
/// instance followed by nothing but its launch template and security
/// groups is not waited for: deleting the group, retried while it is in
/// use, is the wait for the instance to be gone (on EC2 as long, and a
/// poll fewer per try).
pub async fn delete_in_order(
    aws: &Aws,
    resources: Vec<Resource>,
    policy: &Policy,
) -> Vec<Resource> {
    let is_group = |r: &Resource| matches!(r, Resource::SecurityGroup { .. });
    let mut done = Vec::new();
    let mut unwaited: Option<&str> = None;
    for (i, r) in resources.iter().enumerate() {
        let rest = &resources[i + 1..];
        let result = match r {
            Resource::Instance {
                region,
                client_token,
                id,
            } if rest.iter().any(is_group)
                && rest
                    .iter()
                    .all(|x| is_group(x) || matches!(x, Resource::LaunchTemplate { .. })) =>
            {
                unwaited = Some(region);
                terminate_instance(&aws.ec2_in(region), client_token, id.as_deref(), None).await
            }
            // As long as the instance's termination may take, and its release after.
            Resource::SecurityGroup {
                region,
                name,
                vpc_id,
                id,
            } if unwaited == Some(region.as_str()) => {
                let bound = Policy {
                    timeout: policy.timeout + release_bound().timeout,
                    ..policy.clone()
                };
                delete_security_group(
                    &aws.ec2_in(region),
                    name,
                    vpc_id.as_deref(),
                    id.as_deref(),
                    &bound,
                )
                .await
            }
            _ => delete(aws, r, policy).await,
        };
        if result.is_err() {
            break;
        }
        done.push(r.clone());
    }
    done
}

/// Terminate an instance: with its id known, the launch answered, and the
/// client token made any retry of it return that same instance; without,
/// the launch's answer was lost and the token's tag finds what it made.
async fn terminate_instance(
    ec2: &Client,
    client_token: &str,
    id: Option<&str>,
    wait: Option<&Policy>,
) -> Result<(), String> {
    match id {
        Some(id) => terminate(ec2, &[id.to_string()], wait).await,
        None => terminate(ec2, &instances_by_token(ec2, client_token).await?, wait).await,
    }
}

/// Delete a security group, by its id or else by the name kiln gave it.
async fn delete_security_group(
    ec2: &Client,
    name: &str,
    vpc_id: Option<&str>,
    id: Option<&str>,
    bound: &Policy,
) -> Result<(), String> {
    let ids = match id {
        Some(id) => vec![id.to_string()],
        None => {
            let mut q = ec2
                .describe_security_groups()
                .filters(filter("group-name", name));
            if let Some(v) = vpc_id {
                q = q.filters(filter("vpc-id", v));
            }
            let out = q
                .send()
                .await
                .map_err(|e| sdk_error("DescribeSecurityGroups", &e))?;
            out.security_groups()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string))
                .collect()
        }
    };
    for id in ids {
        delete_group(ec2, &id, bound).await?;
    }
    Ok(())
}

/// Delete one resource, finding it by the name or token kiln chose when its
/// id was never learnt. Deleting what is already gone succeeds.
pub async fn delete(aws: &Aws, r: &Resource, policy: &Policy) -> Result<(), String> {
    let ec2 = aws.ec2_in(r.region());
    match r {
        // A key pair made a moment ago may be unknown yet: an endpoint that
        // says so is asked again, as for every other delete. (EC2 itself
        // answers a delete of an unknown key pair with success, which no
        // caller can tell from a real one.)
        Resource::KeyPair { name, .. } => match eventually_within("DeleteKeyPair", GONE, || {
            ec2.delete_key_pair().key_name(name).send()
        })
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(sdk_error("DeleteKeyPair", &e)),
        },
        Resource::SecurityGroup {
            name, vpc_id, id, ..
        } => {
            delete_security_group(
                &ec2,
                name,
                vpc_id.as_deref(),
                id.as_deref(),
                &release_bound(),
            )
            .await
        }
        Resource::Instance {
            client_token, id, ..
        } => terminate_instance(&ec2, client_token, id.as_deref(), Some(policy)).await,
        Resource::Image { name, id, .. } => {
            let mut found = images_named(&ec2, name).await?;
            if let Some(id) = id {
                if !found.iter().any(|(i, _)| i == id) {
                    found.push((id.clone(), Vec::new()));
                }
            }
            for (id, snaps) in found {
                delete_image(&ec2, &id, &snaps).await?;
            }
            Ok(())
        }
        Resource::Volume { id, .. } => match eventually_within("DeleteVolume", GONE, || {
            ec2.delete_volume().volume_id(id).send()
        })
        .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(sdk_error("DeleteVolume", &e)),
        },
        Resource::LaunchTemplate { name, .. } => {
            match eventually_within("DeleteLaunchTemplate", GONE, || {
                ec2.delete_launch_template()
                    .launch_template_name(name)
                    .send()
            })
            .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(sdk_error("DeleteLaunchTemplate", &e)),
            }
        }
        Resource::InstanceProfile { name, .. } => delete_instance_profile(&aws.iam(), name).await,
    }
}
