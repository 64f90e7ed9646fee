//! Small helpers shared across layers.

pub mod duration;
pub mod fs;
pub mod gotime;
pub mod procs;

/// The operating system's random generator, in the form the SSH key
/// types' `random` constructors take (rand_core 0.10's `CryptoRng`).
pub fn ssh_rng() -> russh::keys::ssh_key::rand_core::UnwrapErr<getrandom::SysRng> {
    russh::keys::ssh_key::rand_core::UnwrapErr(getrandom::SysRng)
}
