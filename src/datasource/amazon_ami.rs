//! The amazon-ami data source: the newest (or only) AMI matching filters,
//! with the same access options and filters as amazon-ebs's
//! `source_ami_filter`.

use crate::builder::amazon::client::{self, sdk_error};
use crate::builder::amazon::config::{Access, AccessOptions, AmiFilterOptions};
use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::value::{Attrs, Value};

/// The access options and those of `source_ami_filter`.
pub const FIELDS: &[&[Field]] = &[AccessOptions::FIELDS, AmiFilterOptions::FIELDS];

pub fn validate(c: &Config) -> Vec<String> {
    let mut errs = Vec::new();
    if let Err(e) = Access::from_config(c) {
        errs.push(e);
    }
    match AmiFilterOptions::from_config(c) {
        Ok(f) => {
            if f.owners.is_empty() {
                errs.push("For security reasons, you must declare an owner using owners.".into());
            }
            if f.filters.is_empty() {
                errs.push("filters must be set".into());
            }
        }
        Err(e) => errs.push(e),
    }
    errs
}

async fn lookup(c: &Config) -> Result<Value, String> {
    let access = Access::from_config(c)?;
    let f = AmiFilterOptions::from_config(c)?;
    let aws = client::load(&access).await;
    // Without credentials, say where kiln looked (the call's own error
    // names only the last source of the chain, the instance role).
    aws.check_credentials().await?;
    let filters: Vec<aws_sdk_ec2::types::Filter> = f
        .filters
        .iter()
        .map(|(k, v)| {
            aws_sdk_ec2::types::Filter::builder()
                .name(k)
                .set_values(Some(v.split(',').map(|s| s.trim().to_string()).collect()))
                .build()
        })
        .collect();
    let mut q = aws
        .ec2()
        .describe_images()
        .set_filters(Some(filters))
        .set_owners(Some(f.owners.clone()));
    if f.include_deprecated {
        q = q.include_deprecated(true);
    }
    let out = q
        .send()
        .await
        .map_err(|e| sdk_error("DescribeImages", &e))?;
    let mut images = out.images().to_vec();
    if images.is_empty() {
        return Err("No AMI was found matching filters".into());
    }
    if images.len() > 1 && !f.most_recent {
        return Err("Your query returned more than one result. Please try a more specific search, or set most_recent to true.".into());
    }
    images.sort_by(|a, b| {
        a.creation_date()
            .unwrap_or_default()
            .cmp(b.creation_date().unwrap_or_default())
    });
    let Some(img) = images.pop() else {
        return Err("No AMI was found matching filters".into());
    };
    let s = |v: Option<&str>| Value::string(v.unwrap_or_default());
    let tags: Attrs = img
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), s(t.value())))
        .collect();
    let mut out: Attrs = c.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for k in ["access_key", "secret_key", "token"] {
        out.remove(k);
    }
    out.insert("id".into(), s(img.image_id()));
    out.insert("name".into(), s(img.name()));
    out.insert("creation_date".into(), s(img.creation_date()));
    out.insert("owner".into(), s(img.owner_id()));
    out.insert("owner_name".into(), s(img.image_owner_alias()));
    out.insert(
        "root_device_type".into(),
        s(img.root_device_type().map(|x| x.as_str())),
    );
    out.insert(
        "virtualization_type".into(),
        s(img.virtualization_type().map(|x| x.as_str())),
    );
    out.insert(
        "architecture".into(),
        s(img.architecture().map(|x| x.as_str())),
    );
    out.insert("tags".into(), Value::Map(tags));
    Ok(Value::Object(out))
}

/// Data sources are evaluated while a template loads, outside any async
/// runtime: run the lookup on a thread with a runtime of its own.
pub fn execute(c: &Config) -> Result<Value, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(lookup(c))
            })
            .join()
            .unwrap_or_else(|_| Err("the amazon-ami lookup panicked".into()))
    })
}
