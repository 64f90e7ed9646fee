//! Legacy JSON templates (`builders`, `provisioners`, `post-processors`,
//! `variables`), lowered into the same graph as HCL2.

pub(crate) mod interp;
mod load;
pub mod outline;

pub use load::load;
pub mod gotmpl;
