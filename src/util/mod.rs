//! Small helpers shared across layers.

pub mod duration;
pub mod fs;
pub mod gotime;
