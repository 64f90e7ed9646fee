//! kiln's incremental builds on EC2 (`-reuse`, `kiln plan`): an AMI made
//! from the same inputs is found by its `kiln:inputs` tag — owned by the
//! account, available, not deprecated — in every region the build would
//! make one; regions that lack a copy get one, from an AMI that was found.

use super::client::{sdk_error, Aws};
use super::config::EbsConfig;
use super::steps::{self, State};
use crate::incremental::{self, Earlier, Fingerprint, Part, Reuse};
use crate::runner::steps::{run_steps, Step};
use crate::runner::{Artifact, BuildContext, BuildError};
use aws_sdk_ec2::types::{Filter, Image, Tag};

/// The resolved source AMI, a part of the fingerprint.
pub fn source_part(id: &str) -> Part {
    Part::new("b.source_ami", "source: source AMI", id.as_bytes())
}

/// The tags that carry `fp` on an AMI and its snapshots.
pub fn inputs_tags(fp: &Fingerprint, build: &str) -> Vec<Tag> {
    let mut tags = vec![
        Tag::builder()
            .key(incremental::TAG)
            .value(fp.digest())
            .build(),
        Tag::builder()
            .key(incremental::BUILD_TAG)
            .value(build)
            .build(),
    ];
    for (i, v) in fp.tag_values().into_iter().enumerate() {
        tags.push(
            Tag::builder()
                .key(Fingerprint::parts_tag_key(i))
                .value(v)
                .build(),
        );
    }
    tags
}

/// The regions the build leaves an AMI in, build region first.
fn target_regions(aws: &Aws, cfg: &EbsConfig) -> Vec<String> {
    let mut out = Vec::new();
    if !cfg.skip_save_build_region {
        out.push(aws.region.clone());
    }
    for r in &cfg.ami_regions {
        if !(out.contains(r) || cfg.skip_save_build_region && *r == aws.region) {
            out.push(r.clone());
        }
    }
    out
}

fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// Whether EC2 has deprecated `img` (its deprecation time has come).
fn deprecated(img: &Image) -> bool {
    img.deprecation_time()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t <= chrono::Utc::now())
}

/// The account's available images in `region` with tag `key` = `value`,
/// newest first.
async fn tagged(aws: &Aws, region: &str, key: &str, value: &str) -> Result<Vec<Image>, String> {
    let out = aws
        .ec2_in(region)
        .describe_images()
        .owners("self")
        .filters(tag_filter(key, value))
        .filters(Filter::builder().name("state").values("available").build())
        .send()
        .await
        .map_err(|e| sdk_error("DescribeImages", &e))?;
    let mut images = out.images().to_vec();
    images.sort_by(|a, b| {
        b.creation_date()
            .unwrap_or_default()
            .cmp(a.creation_date().unwrap_or_default())
    });
    Ok(images)
}

fn tag_of<'a>(img: &'a Image, key: &str) -> Option<&'a str> {
    img.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// The parts an AMI's tags keep, compact.
fn parts_of(img: &Image) -> String {
    (0..)
        .map(|i| tag_of(img, &Fingerprint::parts_tag_key(i)))
        .take_while(Option::is_some)
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Find an AMI made from `fp` (completing its copies unless `dry_run`),
/// or say what the newest AMI of this build was made from.
pub async fn find(
    aws: &Aws,
    cfg: &EbsConfig,
    ctx: &BuildContext,
    fp: &Fingerprint,
    dry_run: bool,
) -> Result<Reuse, BuildError> {
    let digest = fp.digest();
    let regions = target_regions(aws, cfg);
    let mut found: Vec<(String, Image)> = Vec::new();
    let lookups = regions
        .iter()
        .map(|r| tagged(aws, r, incremental::TAG, &digest));
    for (region, images) in regions
        .iter()
        .zip(futures_util::future::join_all(lookups).await)
    {
        let images = images.map_err(BuildError::Failed)?;
        for img in images {
            let id = img.image_id().unwrap_or_default();
            if deprecated(&img) {
                ctx.ui.message(&format!(
                    "{id} in {region} has these inputs but is deprecated: not reused"
                ));
                continue;
            }
            found.push((region.clone(), img));
            break;
        }
    }
    if found.is_empty() {
        let newest = newest_of_build(aws, ctx).await?;
        return Ok(Reuse::Build {
            inputs: fp.clone(),
            newest,
        });
    }
    let missing: Vec<String> = regions
        .iter()
        .filter(|r| !found.iter().any(|(f, _)| f == *r))
        .cloned()
        .collect();
    let mut amis: Vec<(String, String)> = found
        .iter()
        .map(|(r, i)| (r.clone(), i.image_id().unwrap_or_default().to_string()))
        .collect();
    if !missing.is_empty() {
        if dry_run {
            ctx.ui.message(&format!(
                "would copy it to {} (no copy made from these inputs there)",
                missing.join(", ")
            ));
        } else {
            amis.extend(copy_to(aws, cfg, ctx, fp, &found[0], &missing).await?);
        }
    }
    Ok(Reuse::Found(artifact(amis, true)))
}

/// The newest AMI this build made (by its `kiln:build` tag), in the
/// region it is built in (or the first it is copied to).
async fn newest_of_build(aws: &Aws, ctx: &BuildContext) -> Result<Option<Earlier>, BuildError> {
    let region = aws.region.clone();
    let images = tagged(aws, &region, incremental::BUILD_TAG, &ctx.full_name)
        .await
        .map_err(BuildError::Failed)?;
    Ok(images.first().map(|img| Earlier {
        what: format!(
            "{} (made {})",
            img.image_id().unwrap_or_default(),
            img.creation_date().unwrap_or_default()
        ),
        parts: parts_of(img),
    }))
}

/// Copy the found AMI to the `missing` regions, tagged as a build's copies
/// are (its `tags`, its inputs), every copy journaled and cleaned up on
/// failure as a build's are.
async fn copy_to(
    aws: &Aws,
    cfg: &EbsConfig,
    ctx: &BuildContext,
    fp: &Fingerprint,
    from: &(String, Image),
    missing: &[String],
) -> Result<Vec<(String, String)>, BuildError> {
    let (region, img) = from;
    let id = img.image_id().unwrap_or_default().to_string();
    ctx.ui.say(&format!(
        "Copying {id} to {}: no copy made from these inputs there",
        missing.join(", ")
    ));
    // The copies are made from the source region's client and journal.
    let mut at_source = aws.clone();
    at_source.region = region.clone();
    let mut state = State::new(at_source, cfg, ctx)?;
    state.amis.push((region.clone(), id.clone()));
    state.snapshots.extend(
        crate::builder::amazon::resources::snapshots_of(img)
            .into_iter()
            .map(|s| (region.clone(), s)),
    );
    let list: Vec<Box<dyn Step<State> + '_>> = vec![
        Box::new(steps::RegionCopy {
            cfg,
            only_to: Some(missing),
        }),
        Box::new(steps::OnlyCopies {
            source: (region.clone(), id.clone()),
        }),
        Box::new(steps::Tags { cfg }),
        Box::new(steps::InputsTag {
            whole: Some(fp.clone()),
        }),
        Box::new(steps::Keep),
    ];
    let r = run_steps(&list, &mut state, ctx).await;
    state.finish_journal();
    r?;
    Ok(state.amis.clone())
}

/// Sorted as a build's artifact lists them (Packer's words for AMIs made
/// now; scripts read the `region: ami` lines).
pub fn artifact(amis: Vec<(String, String)>, reused: bool) -> Artifact {
    let mut ids: Vec<String> = amis.iter().map(|(r, a)| format!("{r}:{a}")).collect();
    ids.sort();
    let mut lines: Vec<String> = amis.iter().map(|(r, a)| format!("{r}: {a}")).collect();
    lines.sort();
    Artifact {
        builder_type: "amazon-ebs".into(),
        id: ids.join(","),
        files: Vec::new(),
        description: if reused {
            format!(
                "AMIs were reused (made earlier from the same inputs):\n{}\n",
                lines.join("\n")
            )
        } else {
            format!("AMIs were created:\n{}\n", lines.join("\n"))
        },
        reused,
        state: Default::default(),
    }
}
