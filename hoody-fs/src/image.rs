//! Images: import and export as tar (optionally zstd-compressed), and building the Debian 13
//! image with debootstrap, cached as a `tar.zst` keyed by what went into it.
//!
//! Archives go through GNU `tar` with `--numeric-owner --xattrs --acls`, which preserves what a
//! root file system needs (owners, modes, hard links, device nodes, file capabilities in
//! xattrs). Imports are extracted into a staging tree and renamed into place only when
//! complete.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::backend::tool_message;
use crate::error::{FsError, Result};
use crate::name::validate;
use crate::pool::{ImageInfo, Pool};

const TAR_FLAGS: &[&str] = &[
    "--numeric-owner",
    "--xattrs",
    "--xattrs-include=*",
    "--acls",
];

/// What [`Pool::build_image`] builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecipe {
    /// Debian suite (`trixie` for Debian 13).
    pub suite: String,
    /// Packages on top of `minbase`.
    pub packages: Vec<String>,
    /// Debian mirror.
    pub mirror: String,
    /// Create user `user` (uid 1000) with passwordless sudo.
    pub default_user: bool,
}

impl ImageRecipe {
    /// Debian 13 (trixie) minbase with systemd and the tools a machine needs, and `user`.
    pub fn debian_13() -> Self {
        ImageRecipe {
            suite: "trixie".into(),
            packages: [
                "systemd",
                "systemd-sysv",
                "dbus",
                "iproute2",
                "ca-certificates",
                "sudo",
                "curl",
                "less",
                "procps",
            ]
            .map(String::from)
            .to_vec(),
            mirror: "http://deb.debian.org/debian".into(),
            default_user: true,
        }
    }

    /// A stable key of everything that changes the result (FNV-1a over the recipe).
    pub fn cache_key(&self) -> String {
        let mut packages = self.packages.clone();
        packages.sort();
        let text = format!(
            "v2|{}|minbase|{}|{}|{}",
            self.suite,
            packages.join(","),
            self.mirror,
            self.default_user
        );
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{}-{h:016x}", self.suite)
    }
}

/// Progress of a long operation, for a front end to display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A new phase started.
    Phase(String),
    /// A line of output from the tool doing the work.
    Detail(String),
}

fn run_tool(cmd: &mut Command, what: &str, progress: &mut dyn FnMut(Progress)) -> Result<()> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| FsError::Tool {
        tool: what.to_string(),
        message: format!("cannot start: {e}"),
    })?;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out)
            .lines()
            .map_while(std::result::Result::ok)
        {
            progress(Progress::Detail(line));
        }
    }
    let out = child.wait_with_output().map_err(|e| FsError::Tool {
        tool: what.to_string(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(FsError::Tool {
            tool: what.to_string(),
            message: tool_message(&out),
        });
    }
    Ok(())
}

/// Extracts a tar or tar.zst archive into `dir`.
fn extract(file: &Path, dir: &Path) -> Result<()> {
    let mut cmd = Command::new("tar");
    cmd.args(TAR_FLAGS).arg("-xpf").arg(file).arg("-C").arg(dir);
    if file.extension().is_some_and(|e| e == "zst") {
        cmd.arg("--zstd");
    }
    let out = cmd
        .output()
        .map_err(|e| FsError::io("run tar to extract", file, e))?;
    if !out.status.success() {
        return Err(FsError::Tool {
            tool: format!("tar -x {}", file.display()),
            message: tool_message(&out),
        });
    }
    Ok(())
}

/// Archives `dir` into `file` (zstd-compressed when it ends in `.zst`), atomically.
fn archive(dir: &Path, file: &Path) -> Result<()> {
    let partial = file.with_extension("partial");
    let mut cmd = Command::new("tar");
    cmd.args(TAR_FLAGS)
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(&partial);
    if file.extension().is_some_and(|e| e == "zst") {
        cmd.arg("--zstd");
    }
    cmd.arg(".");
    let out = cmd
        .output()
        .map_err(|e| FsError::io("run tar to archive", dir, e))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(FsError::Tool {
            tool: format!("tar -c {}", dir.display()),
            message: tool_message(&out),
        });
    }
    std::fs::rename(&partial, file).map_err(|e| FsError::io("rename into place", file, e))
}

impl Pool {
    /// Imports a `.tar` or `.tar.zst` root file system as image `name`.
    pub fn import_image(&self, name: &str, file: &Path) -> Result<ImageInfo> {
        self.check_writable()?;
        validate("image", name)?;
        if !file.is_file() {
            return Err(FsError::io(
                "import image from",
                file,
                std::io::ErrorKind::NotFound.into(),
            ));
        }
        if self.image_path(name).is_ok() {
            return Err(self.exists("image", name));
        }
        let stage = self.staging_path("image")?;
        self.backend().create(&stage)?;
        if let Err(e) = extract(file, &stage) {
            self.backend().delete(&stage)?;
            return Err(e);
        }
        self.commit_image(name, &stage, &format!("file {}", file.display()))
    }

    /// Writes image `name` to `file` as a tar (zstd-compressed when `file` ends in `.zst`).
    pub fn export_image(&self, name: &str, file: &Path) -> Result<()> {
        archive(&self.image_path(name)?, file)
    }

    /// Builds image `name` from `recipe` with debootstrap, or from the cached archive of an
    /// earlier identical build in `cache_dir`.
    pub fn build_image(
        &self,
        name: &str,
        recipe: &ImageRecipe,
        cache_dir: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ImageInfo> {
        self.check_writable()?;
        validate("image", name)?;
        if self.image_path(name).is_ok() {
            return Err(self.exists("image", name));
        }
        let cached = cache_dir.join(format!("{}.tar.zst", recipe.cache_key()));
        if cached.exists() {
            progress(Progress::Phase(format!(
                "unpacking cached build {}",
                cached.display()
            )));
            let stage = self.staging_path("image")?;
            self.backend().create(&stage)?;
            if let Err(e) = extract(&cached, &stage) {
                self.backend().delete(&stage)?;
                return Err(e);
            }
            return self.commit_image(
                name,
                &stage,
                &format!("debootstrap {} (cached)", recipe.cache_key()),
            );
        }
        let stage = self.staging_path("image")?;
        self.backend().create(&stage)?;
        let built = (|| -> Result<()> {
            progress(Progress::Phase(format!(
                "debootstrap {} minbase + {} from {}",
                recipe.suite,
                recipe.packages.join(","),
                recipe.mirror
            )));
            let mut cmd = Command::new("debootstrap");
            cmd.arg("--variant=minbase");
            if !recipe.packages.is_empty() {
                cmd.arg(format!("--include={}", recipe.packages.join(",")));
            }
            cmd.arg(&recipe.suite).arg(&stage).arg(&recipe.mirror);
            run_tool(&mut cmd, "debootstrap", progress)?;
            if recipe.default_user {
                progress(Progress::Phase(
                    "creating user `user` (uid 1000, passwordless sudo)".into(),
                ));
                let mut cmd = Command::new("chroot");
                cmd.arg(&stage)
                    .args([
                        "useradd",
                        "--create-home",
                        "--uid",
                        "1000",
                        "--shell",
                        "/bin/bash",
                    ])
                    .args(if recipe.packages.iter().any(|p| p == "sudo") {
                        vec!["--groups", "sudo"]
                    } else {
                        vec![]
                    })
                    .arg("user");
                run_tool(&mut cmd, "useradd user", progress)?;
                let sudoers = stage.join("etc/sudoers.d/user");
                if let Some(d) = sudoers.parent() {
                    std::fs::create_dir_all(d).map_err(|e| FsError::io("create", d, e))?;
                }
                std::fs::write(&sudoers, "user ALL=(ALL:ALL) NOPASSWD:ALL\n")
                    .map_err(|e| FsError::io("write", &sudoers, e))?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&sudoers, std::fs::Permissions::from_mode(0o440))
                    .map_err(|e| FsError::io("chmod", &sudoers, e))?;
            }
            // Do once here what systemd would otherwise do at the first boot of every machine
            // made from the image (units with ConditionNeedsUpdate=: ldconfig, the journal
            // catalog, then the stamps that say /etc and /var are up to date). Saves about
            // 100 ms on each machine's boot critical path.
            progress(Progress::Phase(
                "preparing first boot (ldconfig, journal catalog, update stamps)".into(),
            ));
            let mut steps = vec![vec!["ldconfig"], vec!["journalctl", "--update-catalog"]];
            if stage.join("usr/lib/systemd/systemd-update-done").exists() {
                steps.push(vec!["/usr/lib/systemd/systemd-update-done"]);
            }
            for args in steps {
                let mut cmd = Command::new("chroot");
                cmd.arg(&stage).args(&args);
                run_tool(&mut cmd, &format!("chroot {}", args.join(" ")), progress)?;
            }
            // Package caches are large and useless in an image.
            for d in ["var/cache/apt/archives", "var/lib/apt/lists"] {
                clean_dir(&stage.join(d));
            }
            progress(Progress::Phase(format!(
                "caching the build as {}",
                cached.display()
            )));
            std::fs::create_dir_all(cache_dir).map_err(|e| FsError::io("create", cache_dir, e))?;
            archive(&stage, &cached)
        })();
        if let Err(e) = built {
            self.backend().delete(&stage)?;
            return Err(e);
        }
        self.commit_image(name, &stage, &format!("debootstrap {}", recipe.cache_key()))
    }
}

fn clean_dir(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let lists = dir.ends_with("lists");
    for e in entries.flatten() {
        let p: PathBuf = e.path();
        let is_deb = p.extension().is_some_and(|x| x == "deb");
        let is_list = lists && p.file_name().is_some_and(|n| n != "lock");
        if p.is_file() && (is_deb || is_list) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_ignores_package_order_but_not_content() {
        let a = ImageRecipe::debian_13();
        let mut b = a.clone();
        b.packages.reverse();
        assert_eq!(a.cache_key(), b.cache_key());
        b.packages.push("vim".into());
        assert_ne!(a.cache_key(), b.cache_key());
        assert!(a.cache_key().starts_with("trixie-"));
    }
}
