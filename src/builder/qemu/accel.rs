//! Which accelerator really works here. `/dev/kvm` existing is not enough:
//! a paravirtualised KVM (a cloud VM without nested virtualisation) offers
//! the device, accepts `KVM_CREATE_VM`, and then hangs the guest — Packer
//! 1.6.6 picks kvm there and never finishes. kiln asks the CPU too.

use super::config::Accel;

const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
const KVM_CREATE_VM: libc::c_ulong = 0xAE01;
const KVM_CREATE_VCPU: libc::c_ulong = 0xAE41;

/// Why KVM cannot be used here, or `None` when it can.
pub fn kvm_unusable() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .flat_map(|l| l.split_whitespace())
        .collect();
    if !flags.iter().any(|f| *f == "vmx" || *f == "svm") {
        return Some("the CPU offers no hardware virtualisation (no vmx/svm flag)".into());
    }
    use std::os::fd::AsRawFd;
    let dev = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(f) => f,
        Err(e) => return Some(format!("/dev/kvm: {e}")),
    };
    // SAFETY: plain KVM ioctls on a file descriptor we own; the returned
    // descriptors are closed below.
    unsafe {
        if libc::ioctl(dev.as_raw_fd(), KVM_GET_API_VERSION, 0) != 12 {
            return Some("/dev/kvm speaks an unexpected API version".into());
        }
        let vm = libc::ioctl(dev.as_raw_fd(), KVM_CREATE_VM, 0);
        if vm < 0 {
            return Some(format!(
                "KVM_CREATE_VM failed: {}",
                std::io::Error::last_os_error()
            ));
        }
        let vcpu = libc::ioctl(vm, KVM_CREATE_VCPU, 0);
        let err = std::io::Error::last_os_error();
        if vcpu >= 0 {
            libc::close(vcpu);
        }
        libc::close(vm);
        if vcpu < 0 {
            return Some(format!("KVM_CREATE_VCPU failed: {err}"));
        }
    }
    None
}

/// The `-machine accel=` value for `a`, and a note when `auto` fell back.
pub fn resolve(a: Accel) -> (&'static str, Option<String>) {
    match a {
        Accel::Kvm => ("kvm", None),
        Accel::Tcg => ("tcg", None),
        Accel::Hvf => ("hvf", None),
        Accel::None => ("tcg", None),
        Accel::Auto => match kvm_unusable() {
            None => ("kvm", None),
            Some(why) => (
                "tcg",
                Some(format!(
                    "KVM is not usable here ({why}); using software emulation (tcg)"
                )),
            ),
        },
    }
}
