//! Where each Kit service listens inside a container: the table lives in
//! [`hoody_kit::ports`], shared with the Kit that binds the ports.

pub use hoody_kit::ports::{INSTANCE_HEADER, kit_port};
