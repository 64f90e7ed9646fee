//! Packer's rules for the keys an AMI is encrypted with (`encrypt_boot`,
//! `kms_key_id`, `region_kms_key_ids`) and for sharing what they encrypt.

use super::{non_empty, EbsOptions};

/// Packer's rules for the keys the AMI is encrypted with, checked before
/// anything is created: keys need `encrypt_boot`, `region_kms_key_ids` and
/// `ami_regions` name the same regions, a key has a KMS key's form, and an
/// AMI or snapshot encrypted with the account's default key cannot be
/// shared (other accounts cannot use that key).
pub(super) fn check_encryption(o: &EbsOptions, errs: &mut Vec<String>) {
    let encrypt = o.encrypt_boot == Some(true);
    let kms = non_empty(o.kms_key_id.clone());
    let region_keys: Vec<(String, String)> = o.region_kms_key_ids.clone().into_iter().collect();
    let mut seen = std::collections::HashSet::new();
    let regions: Vec<String> = o
        .ami_regions
        .iter()
        .filter(|r| seen.insert(r.to_string()))
        .cloned()
        .collect();
    for (r, _) in &region_keys {
        if !regions.contains(r) {
            errs.push(format!(
                "Region {r} is in region_kms_key_ids but not in ami_regions"
            ));
        }
    }
    if !region_keys.is_empty() {
        for r in regions
            .iter()
            .filter(|r| !region_keys.iter().any(|(k, _)| k == *r))
        {
            errs.push(format!(
                "Region {r} is in ami_regions but not in region_kms_key_ids"
            ));
        }
    }
    let default_key = kms.is_none() && region_keys.is_empty() && encrypt;
    let empty_region_key = region_keys.iter().any(|(_, k)| k.is_empty());
    if [&o.ami_users, &o.ami_org_arns, &o.ami_ou_arns]
        .iter()
        .any(|v| !v.is_empty())
    {
        if default_key {
            errs.push("Cannot share AMI encrypted with default KMS key: set kms_key_id (or region_kms_key_ids) to a key the other accounts may use".into());
        }
        if empty_region_key {
            errs.push("Cannot share AMI encrypted with default KMS key for other regions: give every region of region_kms_key_ids a key".into());
        }
    }
    if !o.snapshot_users.is_empty() && (default_key || empty_region_key) {
        errs.push("Cannot share snapshot encrypted with default KMS key: set kms_key_id (or a key for every region of region_kms_key_ids)".into());
    }
    let keys: Vec<&String> = kms
        .iter()
        .chain(region_keys.iter().map(|(_, k)| k).filter(|k| !k.is_empty()))
        .collect();
    if !keys.is_empty() && !encrypt {
        errs.push("If you have set either region_kms_key_ids or kms_key_id, encrypt_boot must also be true.".into());
    }
    for k in keys
        .into_iter()
        .filter(|k| !k.contains(crate::plugin::UNKNOWN))
    {
        if !is_kms_key(k) {
            errs.push(format!("{k:?} is not a valid KMS Key Id: use a key id, an alias/NAME, or a key or alias ARN"));
        }
    }
}

/// The forms CopyImage takes a KMS key in: a key id (multi-region `mrk-`
/// ones too), `alias/NAME`, or the ARN of a key or an alias.
fn is_kms_key(k: &str) -> bool {
    static KEY: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        let id = r"(?:mrk-)?[a-f0-9][a-f0-9-]+";
        let alias = r"alias/[A-Za-z0-9:/_-]+";
        regex::Regex::new(&format!(r"^(?:{id}|{alias}|arn:aws(?:-cn|-us-gov)?:kms:(?:[a-z]{{2}}(?:-gov)?-[a-z]+-\d)?:\d{{12}}:(?:key/{id}|{alias}))$")).expect("a valid pattern")
    });
    KEY.is_match(k)
}

#[cfg(test)]
mod tests {
    use super::is_kms_key;

    #[test]
    fn kms_key_forms() {
        for ok in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "alias/ExampleAlias",
            "alias/aws/ebs",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:alias/ExampleAlias",
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/x",
            "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd",
        ] {
            assert!(is_kms_key(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "not a key",
            "ExampleAlias",
            "alias/",
            "arn:aws:kms:us-east-1:1111:key/abcd",
            "1234ABCD-12ab",
            "arn:aws:s3:::bucket",
        ] {
            assert!(!is_kms_key(bad), "{bad}");
        }
    }
}
