//! The `hoody` CLI also runs inside every container with the Kit (bound read-only from the
//! host). It links libbtrfsutil, which a container's Debian need not have: the machine binds
//! the host's copy at `/run/hoody/kit/lib` (hoody-machine's `CLI_LIB_DIR`), and this run path
//! lets the loader find it there. On the host the directory does not exist and the system's
//! copy is used.
fn main() {
    println!("cargo:rustc-link-arg-bin=hoody=-Wl,-rpath,/run/hoody/kit/lib");
}
