//! Packer 1.9.5's fixers, each a rewrite of options that were renamed or
//! removed, in the order Packer runs them. Where Packer decodes the
//! template with mapstructure first, the same shapes are refused with its
//! message, and the keys it writes back are written back (a template
//! without `builders` gets `"builders": null` from the fixers that decode
//! them strictly, as Packer's output shows).

use regex::Regex;
use serde_json::{Map, Value as J};
use std::sync::LazyLock;

type Tpl = Map<String, J>;
type Obj = Map<String, J>;
pub type Fixer = fn(&mut Tpl) -> Result<(), String>;

/// Every fixer, in `FixerOrder`.
pub const FIXERS: &[(&str, Fixer)] = &[
    ("iso-md5", iso_md5),
    ("createtime", createtime),
    ("virtualbox-gaattach", virtualbox_gaattach),
    ("pp-vagrant-override", pp_vagrant_override),
    ("virtualbox-rename", virtualbox_rename),
    ("vmware-rename", vmware_rename),
    ("parallels-headless", parallels_headless),
    ("parallels-deprecations", parallels_deprecations),
    ("sshkeypath", sshkeypath),
    ("sshdisableagent", sshdisableagent),
    ("scaleway-access-key", scaleway_access_key),
    ("manifest-filename", manifest_filename),
    ("amazon-shutdown_behavior", amazon_shutdown_behavior),
    ("amazon-enhanced-networking", amazon_enhanced_networking),
    ("amazon-private-ip", amazon_private_ip),
    ("amazon-temp-sec-cidrs", amazon_temp_sec_cidrs),
    ("docker-email", docker_email),
    ("docker-tag-tags", docker_tag_tags),
    ("powershell-escapes", powershell_escapes),
    ("vmware-compaction", vmware_compaction),
    ("hyperv-deprecations", hyperv_deprecations),
    ("hyperv-vmxc-typo", hyperv_vmxc_typo),
    ("hyperv-cpu-and-ram", hyperv_cpu_and_ram),
    ("clean-image-name", clean_image_name),
    ("spot-price-auto-product", spot_price_auto_product),
    ("qemu-disk-size", qemu_disk_size),
    ("galaxy-command", galaxy_command),
    ("comm-config", comm_config),
    ("ssh-wait-timeout", ssh_wait_timeout),
    ("vsphere-iso-net-disk", vsphere_iso_net_disk),
    ("iso-checksum-type-and-url", iso_checksum_type_and_url),
    ("qemu-host-port", qemu_host_port),
    ("azure-exclude_from_latest", azure_exclude_from_latest),
    ("proxmox-type", proxmox_type),
];

// ---- how Packer decodes the template ---------------------------------------------

fn kind(v: &J) -> &'static str {
    match v {
        J::Null => "invalid",
        J::Bool(_) => "bool",
        J::Number(_) => "float64",
        J::String(_) => "string",
        J::Array(_) => "slice",
        J::Object(_) => "map",
    }
}

/// mapstructure's complaint about a value of the wrong shape.
fn decode_err(field: &str, want: &str, got: &J) -> String {
    let what = if want == "a slice" {
        format!(
            "'{field}': source data must be an array or slice, got {}",
            kind(got)
        )
    } else {
        format!("'{field}' expected {want}, got '{}'", kind(got))
    };
    format!("1 error(s) decoding:\n\n* {what}")
}

/// `mapstructure.Decode` into `Builders []map[string]interface{}`, `f` on
/// each, and `builders` written back (null when there was none).
fn builders(t: &mut Tpl, mut f: impl FnMut(&mut Obj) -> Result<(), String>) -> Result<(), String> {
    match t.get_mut("builders") {
        None | Some(J::Null) => {
            t.insert("builders".into(), J::Null);
            Ok(())
        }
        Some(J::Array(items)) => {
            for (i, b) in items.iter_mut().enumerate() {
                match b {
                    J::Object(m) => f(m)?,
                    other => return Err(decode_err(&format!("Builders[{i}]"), "a map", other)),
                }
            }
            Ok(())
        }
        Some(other) => Err(decode_err("Builders", "a slice", other)),
    }
}

/// `mapstructure.WeakDecode` into `[]interface{}` and each element decoded
/// as a map where it is one; the list written back only when not empty.
fn weak_list(
    t: &mut Tpl,
    key: &str,
    mut f: impl FnMut(&mut Obj) -> Result<(), String>,
) -> Result<(), String> {
    let items = match t.get_mut(key) {
        None | Some(J::Null) => return Ok(()),
        Some(J::Array(items)) => items,
        // Weak decoding makes a lone value a list of one.
        Some(other) => {
            let one = other.take();
            *other = J::Array(vec![one]);
            match other {
                J::Array(items) => items,
                _ => return Ok(()),
            }
        }
    };
    for item in items.iter_mut() {
        if let J::Object(m) = item {
            f(m)?;
        }
    }
    Ok(())
}

/// The post-processors as Packer's fixers see them: objects, and the
/// objects inside chains (names alone are skipped). Nothing when there is
/// no `post-processors`.
fn post_processors(
    t: &mut Tpl,
    mut f: impl FnMut(&mut Obj) -> Result<(), String>,
) -> Result<bool, String> {
    let Some(pps) = t.get_mut("post-processors").filter(|p| !p.is_null()) else {
        return Ok(false);
    };
    let J::Array(items) = pps else {
        return Err(decode_err("post-processors", "a slice", pps));
    };
    for item in items.iter_mut() {
        match item {
            J::Object(m) => f(m)?,
            J::Array(chain) => {
                for inner in chain.iter_mut() {
                    if let J::Object(m) = inner {
                        f(m)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(true)
}

fn type_of(b: &Obj) -> Option<&str> {
    b.get("type").and_then(J::as_str)
}

/// Move `from` to `to` (whatever its value).
fn rename(b: &mut Obj, from: &str, to: &str) {
    if let Some(v) = b.remove(from) {
        b.insert(to.into(), v);
    }
}

// ---- the fixers ------------------------------------------------------------------

fn iso_md5(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if let Some(md5) = b.get("iso_md5").and_then(J::as_str).map(str::to_string) {
            b.remove("iso_md5");
            b.insert("iso_checksum".into(), J::String(md5));
            b.insert("iso_checksum_type".into(), J::String("md5".into()));
        }
        Ok(())
    })
}

fn createtime(t: &mut Tpl) -> Result<(), String> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\{\{\s*\.CreateTime\s*\}\}").expect("a valid pattern"));
    builders(t, |b| {
        for key in ["ami_name", "bundle_prefix", "snapshot_name"] {
            if let Some(J::String(s)) = b.get_mut(key) {
                *s = RE.replace_all(s, "{{timestamp}}").into_owned();
            }
        }
        Ok(())
    })
}

fn virtualbox_gaattach(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if type_of(b) != Some("virtualbox") {
            return Ok(());
        }
        if let Some(attach) = b.get("guest_additions_attach").and_then(J::as_bool) {
            b.remove("guest_additions_attach");
            let mode = if attach { "attach" } else { "upload" };
            b.insert("guest_additions_mode".into(), J::String(mode.into()));
        }
        Ok(())
    })
}

fn pp_vagrant_override(t: &mut Tpl) -> Result<(), String> {
    post_processors(t, |pp| {
        if pp.get("type").and_then(J::as_str) != Some("vagrant") {
            return Ok(());
        }
        let mut overrides = Obj::new();
        for name in ["aws", "digitalocean", "virtualbox", "vmware"] {
            if let Some(v) = pp.remove(name) {
                overrides.insert(name.into(), v);
            }
        }
        if !overrides.is_empty() {
            pp.insert("override".into(), J::Object(overrides));
        }
        Ok(())
    })
    .map(|_| ())
}

fn virtualbox_rename(t: &mut Tpl) -> Result<(), String> {
    if let Some(J::Array(items)) = t.get_mut("builders") {
        for (i, b) in items.iter_mut().enumerate() {
            let J::Object(b) = b else {
                return Err(decode_err(&format!("Builders[{i}]"), "a map", b));
            };
            if type_of(b) == Some("virtualbox") {
                b.insert("type".into(), J::String("virtualbox-iso".into()));
            }
        }
    }
    weak_list(t, "provisioners", |p| {
        if let Some(J::Object(o)) = p.get_mut("override") {
            rename(o, "virtualbox", "virtualbox-iso");
        }
        Ok(())
    })
}

fn vmware_rename(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if type_of(b) == Some("vmware") {
            b.insert("type".into(), J::String("vmware-iso".into()));
        }
        Ok(())
    })
}

fn is_parallels(b: &Obj) -> bool {
    matches!(type_of(b), Some("parallels-iso" | "parallels-pvm"))
}

fn parallels_headless(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if is_parallels(b) {
            b.remove("headless");
        }
        Ok(())
    })
}

fn parallels_deprecations(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if is_parallels(b) {
            b.remove("parallels_tools_host_path");
            rename(b, "guest_os_distribution", "guest_os_type");
        }
        Ok(())
    })
}

fn sshkeypath(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if let Some(p) = b
            .get("ssh_key_path")
            .and_then(J::as_str)
            .map(str::to_string)
        {
            if !b.contains_key("ssh_private_key_file") {
                b.insert("ssh_private_key_file".into(), J::String(p));
            }
            b.remove("ssh_key_path");
        }
        Ok(())
    })
}

fn sshdisableagent(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if let Some(v) = b.get("ssh_disable_agent").and_then(J::as_bool) {
            if !b.contains_key("ssh_disable_agent_forwarding") {
                b.insert("ssh_disable_agent_forwarding".into(), J::Bool(v));
            }
            b.remove("ssh_disable_agent");
        }
        Ok(())
    })
}

fn scaleway_access_key(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if type_of(b) != Some("scaleway") {
            return Ok(());
        }
        if let Some(key) = b.get("access_key").and_then(J::as_str).map(str::to_string) {
            if !b.contains_key("organization_id") {
                b.insert("organization_id".into(), J::String(key));
            }
            b.remove("access_key");
        }
        Ok(())
    })
}

fn manifest_filename(t: &mut Tpl) -> Result<(), String> {
    post_processors(t, |pp| {
        if pp.get("type").and_then(J::as_str) != Some("manifest") {
            return Ok(());
        }
        if let Some(f) = pp.get("filename").and_then(J::as_str).map(str::to_string) {
            pp.remove("filename");
            pp.insert("output".into(), J::String(f));
        }
        Ok(())
    })
    .map(|_| ())
}

fn is_amazon(b: &Obj) -> bool {
    type_of(b).is_some_and(|t| t.starts_with("amazon-"))
}

fn amazon_shutdown_behavior(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if is_amazon(b) {
            rename(b, "shutdown_behaviour", "shutdown_behavior");
        }
        Ok(())
    })
}

fn amazon_enhanced_networking(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if !is_amazon(b) {
            return Ok(());
        }
        if let Some(v) = b.get("enhanced_networking").and_then(J::as_bool) {
            b.remove("enhanced_networking");
            b.insert("ena_support".into(), J::Bool(v));
        }
        Ok(())
    })
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn amazon_private_ip(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if !is_amazon(b) || b.contains_key("ssh_interface") {
            return Ok(());
        }
        let Some(raw) = b.get("ssh_private_ip") else {
            return Ok(());
        };
        let private = match raw {
            J::Bool(v) => *v,
            J::String(s) => parse_bool(s).ok_or_else(|| {
                format!("ssh_private_ip is not a boolean, strconv.ParseBool: parsing {s:?}: invalid syntax")
            })?,
            other => {
                return Err(format!(
                    "ssh_private_ip is not a boolean or a string, but {}",
                    kind(other)
                ))
            }
        };
        b.remove("ssh_private_ip");
        let iface = if private { "private_ip" } else { "public_ip" };
        b.insert("ssh_interface".into(), J::String(iface.into()));
        Ok(())
    })
}

fn amazon_temp_sec_cidrs(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if !is_amazon(b) {
            return Ok(());
        }
        if let Some(cidr) = b
            .get("temporary_security_group_source_cidr")
            .and_then(J::as_str)
            .map(str::to_string)
        {
            b.remove("temporary_security_group_source_cidr");
            b.insert(
                "temporary_security_group_source_cidrs".into(),
                J::Array(vec![J::String(cidr)]),
            );
        }
        Ok(())
    })
}

fn docker_email(t: &mut Tpl) -> Result<(), String> {
    if t.get("post-processors").is_none_or(J::is_null) {
        return Ok(());
    }
    builders(t, |b| {
        b.remove("login_email");
        Ok(())
    })?;
    post_processors(t, |pp| {
        pp.remove("login_email");
        Ok(())
    })
    .map(|_| ())
}

/// Tags given as a list, or as one comma-separated string.
fn tag_list(v: &J, out: &mut Vec<String>) -> Result<(), String> {
    match v {
        J::Array(items) => {
            for i in items {
                match i {
                    J::String(s) => out.push(s.clone()),
                    other => {
                        return Err(format!(
                            "a docker-tag tag must be a string, not {}",
                            kind(other)
                        ))
                    }
                }
            }
        }
        J::String(s) => out.extend(s.split(',').map(|t| t.trim().to_string())),
        _ => {}
    }
    Ok(())
}

fn docker_tag_tags(t: &mut Tpl) -> Result<(), String> {
    post_processors(t, |pp| {
        if pp.get("type").and_then(J::as_str) != Some("docker-tag") {
            return Ok(());
        }
        let mut all = Vec::new();
        if let Some(v) = pp.get("tag") {
            tag_list(v, &mut all)?;
        }
        if let Some(v) = pp.get("tags") {
            tag_list(v, &mut all)?;
        }
        let mut seen = std::collections::HashSet::new();
        let tags: Vec<J> = all
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .map(J::String)
            .collect();
        pp.remove("tag");
        pp.insert("tags".into(), J::Array(tags));
        Ok(())
    })
    .map(|_| ())
}

/// PowerShell's escapes undone (`` `$ `` is `$`, ``` `` ``` is `` ` ``…).
fn ps_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '`' {
            if let Some(&n) = chars.peek() {
                if matches!(n, '$' | '"' | '`' | '\'') {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

fn powershell_escapes(t: &mut Tpl) -> Result<(), String> {
    weak_list(t, "provisioners", |p| {
        if p.get("type").and_then(J::as_str) != Some("powershell") {
            return Ok(());
        }
        for key in ["elevated_user", "elevated_password"] {
            match p.get_mut(key) {
                Some(J::String(s)) => *s = ps_unescape(s),
                Some(other) => return Err(format!("{key} must be a string, not {}", kind(other))),
                None => {}
            }
        }
        if let Some(J::Array(vars)) = p.get_mut("environment_vars") {
            if vars.iter().all(J::is_string) {
                for v in vars.iter_mut() {
                    if let J::String(s) = v {
                        *s = ps_unescape(s);
                    }
                }
            }
        }
        Ok(())
    })
}

fn vmware_compaction(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if type_of(b) != Some("vmware-iso")
            || b.get("remote_type").and_then(J::as_str) != Some("esx5")
        {
            return Ok(());
        }
        match b.get("disk_type_id") {
            None => {
                b.insert("disk_type_id".into(), J::String("zeroedthick".into()));
            }
            Some(J::String(id)) if id == "thin" => return Ok(()),
            Some(J::String(_)) => {}
            Some(_) => return Ok(()),
        }
        match b.get("skip_compaction") {
            Some(J::Bool(_)) | None => {
                b.insert("skip_compaction".into(), J::Bool(true));
            }
            Some(_) => {}
        }
        Ok(())
    })
}

fn hyperv_deprecations(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if type_of(b) == Some("hyperv-iso") {
            b.remove("vhd_temp_path");
        }
        Ok(())
    })
}

fn hyperv_vmxc_typo(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if type_of(b) == Some("hyperv-vmcx") {
            rename(b, "clone_from_vmxc_path", "clone_from_vmcx_path");
        }
        Ok(())
    })
}

fn hyperv_cpu_and_ram(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if matches!(type_of(b), Some("hyperv-vmcx" | "hyperv-iso")) {
            rename(b, "cpu", "cpus");
            rename(b, "ram_size", "memory");
        }
        Ok(())
    })
}

fn clean_image_name(t: &mut Tpl) -> Result<(), String> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"clean_(image|ami)_name").expect("a valid pattern"));
    builders(t, |b| {
        for v in b.values_mut() {
            match v {
                J::String(s) => *s = RE.replace_all(s, "clean_resource_name").into_owned(),
                J::Object(m) => {
                    for inner in m.values_mut() {
                        if let J::String(s) = inner {
                            *s = RE.replace_all(s, "clean_resource_name").into_owned();
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    })
}

fn spot_price_auto_product(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if matches!(
            type_of(b),
            Some("amazon-ebs" | "amazon-ebssurrogate" | "amazon-ebsvolume" | "amazon-instance")
        ) {
            b.remove("spot_price_auto_product");
        }
        Ok(())
    })
}

fn qemu_disk_size(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if type_of(b) != Some("qemu") {
            return Ok(());
        }
        if let Some(n) = b.get("disk_size").and_then(J::as_f64) {
            // Go's int(float64): the integer part.
            b.insert(
                "disk_size".into(),
                J::String(format!("{}M", n.trunc() as i64)),
            );
        }
        Ok(())
    })
}

fn galaxy_command(t: &mut Tpl) -> Result<(), String> {
    weak_list(t, "provisioners", |p| {
        if p.get("type").and_then(J::as_str) != Some("ansible-local") {
            return Ok(());
        }
        if p.contains_key("galaxy_command") {
            p.remove("galaxycommand");
        } else if let Some(c) = p
            .get("galaxycommand")
            .and_then(J::as_str)
            .map(str::to_string)
        {
            p.remove("galaxycommand");
            p.insert("galaxy_command".into(), J::String(c));
        }
        Ok(())
    })
}

/// `old` folded into `new`: dropped where `new` is set, else renamed.
fn prefer(b: &mut Obj, old: &str, new: &str) {
    if b.contains_key(new) {
        b.remove(old);
    } else {
        rename(b, old, new);
    }
}

fn comm_config(t: &mut Tpl) -> Result<(), String> {
    weak_list(t, "builders", |b| {
        if !type_of(b).is_some_and(|t| t.starts_with("virtualbox")) {
            return Ok(());
        }
        prefer(b, "ssh_host_port_min", "host_port_min");
        prefer(b, "ssh_host_port_max", "host_port_max");
        if b.contains_key("skip_nat_mapping") {
            b.remove("ssh_skip_nat_mapping");
        } else if let Some(v) = b.get("ssh_skip_nat_mapping").and_then(J::as_bool) {
            b.remove("ssh_skip_nat_mapping");
            b.insert("skip_nat_mapping".into(), J::Bool(v));
        }
        Ok(())
    })
}

fn ssh_wait_timeout(t: &mut Tpl) -> Result<(), String> {
    weak_list(t, "builders", |b| {
        if b.contains_key("ssh_timeout") {
            b.remove("ssh_wait_timeout");
        } else if let Some(v) = b
            .get("ssh_wait_timeout")
            .and_then(J::as_str)
            .map(str::to_string)
        {
            b.remove("ssh_wait_timeout");
            b.insert("ssh_timeout".into(), J::String(v));
        }
        Ok(())
    })
}

fn vsphere_iso_net_disk(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if type_of(b) != Some("vsphere-iso") {
            return Ok(());
        }
        let mut nic = Obj::new();
        for (from, to) in [
            ("network", "network"),
            ("networkCard", "network_card"),
            ("network_card", "network_card"),
        ] {
            if let Some(v) = b.remove(from) {
                nic.insert(to.into(), v);
            }
        }
        if !nic.is_empty() {
            let mut adapters = vec![J::Object(nic)];
            match b.get("network_adapters") {
                Some(J::Array(existing)) => adapters.extend(existing.iter().cloned()),
                Some(other) => {
                    return Err(format!(
                        "network_adapters must be a list, not {}",
                        kind(other)
                    ))
                }
                None => {}
            }
            b.insert("network_adapters".into(), J::Array(adapters));
        }
        let mut disk = Obj::new();
        for key in ["disk_size", "disk_thin_provisioned", "disk_eagerly_scrub"] {
            if let Some(v) = b.remove(key) {
                disk.insert(key.into(), v);
            }
        }
        if !disk.is_empty() {
            let mut storage = vec![J::Object(disk)];
            match b.get("storage") {
                Some(J::Array(existing)) => storage.extend(existing.iter().cloned()),
                Some(other) => return Err(format!("storage must be a list, not {}", kind(other))),
                None => {}
            }
            b.insert("storage".into(), J::Array(storage));
        }
        Ok(())
    })
}

fn iso_checksum_type_and_url(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        let s = |k: &str| b.get(k).and_then(J::as_str).unwrap_or_default().to_string();
        let (url, ty, sum) = (
            s("iso_checksum_url"),
            s("iso_checksum_type"),
            s("iso_checksum"),
        );
        b.remove("iso_checksum_url");
        b.remove("iso_checksum_type");
        if sum.is_empty() && url.is_empty() {
            return Ok(());
        }
        let checksum = if !url.is_empty() {
            format!("file:{url}")
        } else if !ty.is_empty() {
            format!("{ty}:{sum}")
        } else {
            sum
        };
        b.insert("iso_checksum".into(), J::String(checksum));
        Ok(())
    })
}

fn qemu_host_port(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if type_of(b) == Some("qemu") {
            rename(b, "ssh_host_port_min", "host_port_min");
            rename(b, "ssh_host_port_max", "host_port_max");
        }
        Ok(())
    })
}

fn azure_exclude_from_latest(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if !type_of(b).is_some_and(|t| t.starts_with("azure-chroot")) {
            return Ok(());
        }
        if let Some(J::Object(dest)) = b.get_mut("shared_image_destination") {
            rename(dest, "exlude_from_latest", "exclude_from_latest");
        }
        Ok(())
    })
}

fn proxmox_type(t: &mut Tpl) -> Result<(), String> {
    builders(t, |b| {
        if type_of(b) == Some("proxmox") {
            b.insert("type".into(), J::String("proxmox-iso".into()));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powershell_escapes_are_undone_left_to_right() {
        assert_eq!(ps_unescape("a`$b ``$c `\"d`'e `x"), "a$b `$c \"d'e `x");
    }
}
