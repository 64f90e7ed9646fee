//! Small helpers shared across layers.

pub mod duration;
pub mod gotime;
pub mod fs;
