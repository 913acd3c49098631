//! The raw system calls hoody-core makes, gathered in one place: no other module of this
//! crate calls `libc` behind an `unsafe` block (the only `unsafe` left elsewhere is calling
//! [`clone3`] and [`execve`], whose contracts are the caller's to keep). The few it shares with
//! the other crates (`kill`, `geteuid`, `statfs`, the pty pair) are `hoody_sys`'s.
//!
//! Every function here is a thin wrapper over one syscall. They return `Err(errno)` instead of
//! a rich error because several of them run in the child between `clone3` and `execve`, where
//! nothing may allocate. Callers on the parent side turn the errno into a typed error that names
//! the resource. Descriptors a call creates come back as `OwnedFd`.
//!
//! None of these wrappers allocate, except [`ptsname`] in the parent-side section at the end
//! (never called in a child).

use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// An errno value as returned by a failed syscall.
pub type Errno = i32;

/// Result of a raw syscall wrapper.
pub type SysResult<T> = Result<T, Errno>;

fn last_errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn check(ret: libc::c_long) -> SysResult<libc::c_long> {
    if ret < 0 { Err(last_errno()) } else { Ok(ret) }
}

fn check_int(ret: libc::c_int) -> SysResult<libc::c_int> {
    if ret < 0 { Err(last_errno()) } else { Ok(ret) }
}

/// `struct clone_args` from `<linux/sched.h>` (version 2, with `cgroup`).
#[repr(C)]
#[derive(Debug, Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), not exported by every libc version.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Outcome of [`clone3`] as seen by the caller.
#[derive(Debug)]
pub enum Forked {
    /// We are the parent; the child has this pid and this pidfd (`CLONE_PIDFD`, always asked).
    Parent(libc::pid_t, OwnedFd),
    /// We are the child.
    Child,
}

/// `clone3(2)` without `CLONE_VM`: fork semantics, new namespaces as asked in `args.flags`,
/// and always `CLONE_PIDFD` (the parent gets the child's pidfd, owned).
///
/// # Safety
/// The child is a copy of a possibly multi-threaded process with only the calling thread
/// running. It must not allocate, take locks or touch state another thread may hold, and must
/// end in `execve` or `_exit`.
pub unsafe fn clone3(args: &mut CloneArgs) -> SysResult<Forked> {
    let mut pidfd: RawFd = -1;
    args.flags |= libc::CLONE_PIDFD as u64;
    args.pidfd = &mut pidfd as *mut RawFd as u64;
    // SAFETY: args points to a valid, fully initialised clone_args of the size we pass, whose
    // pidfd field points to `pidfd`, alive across the call; the caller upholds the post-fork
    // rules documented above.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match check(ret)? {
        0 => Ok(Forked::Child),
        // SAFETY: CLONE_PIDFD stored a new descriptor in `pidfd`, owned by nothing else.
        pid => Ok(Forked::Parent(pid as libc::pid_t, unsafe {
            OwnedFd::from_raw_fd(pidfd)
        })),
    }
}

/// `pidfd_send_signal(2)`.
pub fn pidfd_send_signal(pidfd: RawFd, sig: libc::c_int) -> SysResult<()> {
    // SAFETY: plain syscall with an fd and integer arguments; a null siginfo is allowed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    check(ret).map(|_| ())
}

/// How a waited-for process ended, as reported by `waitid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitResult {
    /// Normal exit with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

/// `waitid(P_PIDFD, pidfd, WEXITED)`: block until the process behind `pidfd` exits and reap it.
pub fn waitid_pidfd(pidfd: RawFd, nohang: bool) -> SysResult<Option<WaitResult>> {
    loop {
        // SAFETY: siginfo_t is plain data; all-zero is a valid value for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | if nohang { libc::WNOHANG } else { 0 };
        // SAFETY: info is a valid, writable siginfo_t.
        let ret = unsafe { libc::waitid(libc::P_PIDFD, pidfd as libc::id_t, &mut info, flags) };
        if ret < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        // SAFETY: waitid filled info (or left it zeroed with WNOHANG and no child ready).
        let pid = unsafe { info.si_pid() };
        if pid == 0 {
            return Ok(None);
        }
        // SAFETY: as above, info was filled by waitid for an exited child.
        let status = unsafe { info.si_status() };
        return Ok(Some(match info.si_code {
            libc::CLD_EXITED => WaitResult::Exited(status),
            _ => WaitResult::Signaled(status),
        }));
    }
}

/// `setns(2)` with a namespace fd or a pidfd and `CLONE_NEW*` flags.
pub fn setns(fd: RawFd, nstype: libc::c_int) -> SysResult<()> {
    // SAFETY: plain syscall with integer arguments.
    check_int(unsafe { libc::setns(fd, nstype) }).map(|_| ())
}

/// `mount(2)`. `None` arguments are passed as NULL.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> SysResult<()> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is either null or a valid NUL-terminated string that outlives the
    // call.
    let ret = unsafe {
        libc::mount(
            p(source),
            target.as_ptr(),
            p(fstype),
            flags,
            p(data).cast::<libc::c_void>(),
        )
    };
    check_int(ret).map(|_| ())
}

/// `struct mount_attr` from `<linux/mount.h>`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// `MOUNT_ATTR_RDONLY`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// `mount_setattr(2)` on `path` (resolved from the cwd), optionally recursive. Sets and
/// clears attributes without having to restate the locked flags of a mount, which is what a
/// read-only remount inside a user namespace would need.
pub fn mount_setattr(path: &CStr, attr_set: u64, attr_clr: u64, recursive: bool) -> SysResult<()> {
    let flags = if recursive {
        libc::AT_RECURSIVE as libc::c_uint
    } else {
        0
    };
    let mut attr = MountAttr {
        attr_set,
        attr_clr,
        ..MountAttr::default()
    };
    // SAFETY: path is a valid C string; attr is a valid mount_attr of the size we pass.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &mut attr as *mut MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(ret).map(|_| ())
}

/// `pivot_root(2)`.
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult<()> {
    // SAFETY: both arguments are valid C strings.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    check(ret).map(|_| ())
}

/// `umount2(2)`.
pub fn umount2(target: &CStr, flags: libc::c_int) -> SysResult<()> {
    // SAFETY: target is a valid C string.
    check_int(unsafe { libc::umount2(target.as_ptr(), flags) }).map(|_| ())
}

/// `chdir(2)`.
pub fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    check_int(unsafe { libc::chdir(path.as_ptr()) }).map(|_| ())
}

/// `mkdir(2)`; an existing entry is not an error.
pub fn mkdir_exist_ok(path: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    match check_int(unsafe { libc::mkdir(path.as_ptr(), mode) }) {
        Ok(_) | Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates an empty regular file if nothing exists at `path` (a bind-mount target).
pub fn touch(path: &CStr) -> SysResult<()> {
    // Something already there is a fine mount point (and opening it for writing could be
    // refused to an unprivileged root).
    if lstat_kind(path)?.is_some() {
        return Ok(());
    }
    // SAFETY: path is a valid C string; the flags create the file without following a final
    // symlink.
    let fd = check_int(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o644,
        )
    })?;
    close(fd);
    Ok(())
}

/// Creates or truncates `path` (mode 0644, no final symlink followed) and writes `content`.
pub fn write_file(path: &CStr, content: &[u8]) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    let fd = check_int(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o644,
        )
    })?;
    let r = write_all(fd, content);
    close(fd);
    r
}

/// `symlink(2)`; an existing entry is not an error.
pub fn symlink_exist_ok(target: &CStr, linkpath: &CStr) -> SysResult<()> {
    // SAFETY: both are valid C strings.
    match check_int(unsafe { libc::symlink(target.as_ptr(), linkpath.as_ptr()) }) {
        Ok(_) | Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `mknod(2)` of a character device.
pub fn mknod_char(path: &CStr, mode: libc::mode_t, major: u32, minor: u32) -> SysResult<()> {
    // SAFETY: path is a valid C string.
    let ret = unsafe {
        libc::mknod(
            path.as_ptr(),
            libc::S_IFCHR | mode,
            libc::makedev(major, minor),
        )
    };
    match check_int(ret) {
        Ok(_) | Err(libc::EEXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// File type of `path` without following a final symlink, or `None` when it does not exist.
pub fn lstat_kind(path: &CStr) -> SysResult<Option<libc::mode_t>> {
    // SAFETY: stat is plain data; zeroed is valid for lstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is a valid C string and st a writable stat buffer.
    match check_int(unsafe { libc::lstat(path.as_ptr(), &mut st) }) {
        Ok(_) => Ok(Some(st.st_mode & libc::S_IFMT)),
        Err(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `sethostname(2)`.
pub fn sethostname(name: &[u8]) -> SysResult<()> {
    // SAFETY: name points to name.len() readable bytes.
    check_int(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(|_| ())
}

/// `close(2)`, ignoring errors (there is nothing useful to do about them).
pub fn close(fd: RawFd) {
    // SAFETY: closing an fd we own; a bad fd only yields EBADF.
    unsafe { libc::close(fd) };
}

/// `dup2(2)` / `dup3`: makes `newfd` refer to `oldfd`; clears `FD_CLOEXEC` on `newfd`.
pub fn dup2(oldfd: RawFd, newfd: RawFd) -> SysResult<()> {
    if oldfd == newfd {
        // dup2 to itself keeps CLOEXEC; clear it explicitly.
        // SAFETY: fcntl on an fd we own.
        return check_int(unsafe { libc::fcntl(oldfd, libc::F_SETFD, 0) }).map(|_| ());
    }
    // SAFETY: both are fds; dup2 does not touch memory.
    check_int(unsafe { libc::dup2(oldfd, newfd) }).map(|_| ())
}

/// Writes all of `buf` to `fd`, retrying on EINTR and short writes.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: buf points to buf.len() readable bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Reads into `buf` until it is full or EOF; returns the number of bytes read.
pub fn read_full(fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer range lies within buf.
        let n = unsafe { libc::read(fd, buf[done..].as_mut_ptr().cast(), buf.len() - done) };
        if n < 0 {
            let e = last_errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        done += n as usize;
    }
    Ok(done)
}

/// `pipe2(O_CLOEXEC)`: returns (read end, write end). Parent side only (it is made before
/// the clone).
pub fn pipe_cloexec() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a writable array of two ints.
    check_int(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two new descriptors, owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `_exit(2)`: ends the process without running destructors or atexit handlers.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// `prctl(2)` with integer arguments.
pub fn prctl(option: libc::c_int, a2: libc::c_ulong, a3: libc::c_ulong) -> SysResult<()> {
    // SAFETY: every option we pass takes integer arguments only.
    check_int(unsafe { libc::prctl(option, a2, a3, 0 as libc::c_ulong, 0 as libc::c_ulong) })
        .map(|_| ())
}

/// `setresuid(2)` and `setresgid(2)` plus `setgroups(2)`, in the order that keeps the right to
/// change them.
///
/// Raw syscalls, not glibc's wrappers: in a multithreaded process glibc makes every thread
/// change its ids too (`__nptl_setxid`), walking its thread list under a lock and waiting on
/// each thread's futex. A `clone3` child inherits the parent's view of that list without its
/// threads, so the wrapper can wait forever on a thread that was being created at clone time
/// (seen as a child stuck in `futex_do_wait` under a busy test harness). The child is single
/// threaded, so the per-thread syscall is exactly what it needs.
pub fn set_ids(uid: u32, gid: u32, groups: &[libc::gid_t]) -> SysResult<()> {
    // SAFETY: groups points to groups.len() gid_t values.
    check(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) })?;
    // SAFETY: plain syscalls with integer arguments.
    check(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) })?;
    // SAFETY: as above.
    check(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) })?;
    Ok(())
}

/// `setrlimit(2)`.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> SysResult<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit; resource is one of the RLIMIT_* constants.
    check_int(unsafe { libc::setrlimit(resource as libc::__rlimit_resource_t, &lim) }).map(|_| ())
}

/// Brings the loopback interface of the current network namespace up.
pub fn loopback_up() -> SysResult<()> {
    // SAFETY: plain socket syscall.
    let sock = check_int(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    })?;
    // SAFETY: ifreq is plain data; zeroed is a valid initial value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: req is a valid ifreq naming "lo"; SIOCSIFFLAGS reads it.
    let ret = unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS, &mut req) };
    close(sock);
    check_int(ret).map(|_| ())
}

/// Makes `fd` (a pty slave) the controlling terminal of the calling session.
pub fn set_controlling_tty(fd: RawFd) -> SysResult<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    check_int(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }).map(|_| ())
}

/// `setsid(2)`.
pub fn setsid() -> SysResult<()> {
    // SAFETY: no arguments.
    check_int(unsafe { libc::setsid() }).map(|_| ())
}

/// `execve(2)`; returns only on failure.
///
/// # Safety
/// `argv` and `envp` must be NULL-terminated arrays of valid C string pointers.
pub unsafe fn execve(
    path: &CStr,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> Errno {
    // SAFETY: the caller guarantees argv and envp are NULL-terminated arrays of C strings.
    unsafe { libc::execve(path.as_ptr(), argv, envp) };
    last_errno()
}

/// Clears the signal mask (a clone inherits the parent thread's mask, and `execve` keeps it).
pub fn unblock_all_signals() -> SysResult<()> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid sigset_t; a null old-set pointer is allowed.
    check_int(unsafe {
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut())
    })
    .map(|_| ())
}

/// `pidfd_open(2)`.
pub fn pidfd_open(pid: libc::pid_t) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: on success the syscall returned a new descriptor, owned by nothing else.
    check(ret).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `OPEN_TREE_CLONE`.
pub const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `MOUNT_ATTR_IDMAP`.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
/// `MOVE_MOUNT_F_EMPTY_PATH`.
pub const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)`: a detached copy of the
/// mount at `path`.
pub fn open_tree_clone(path: &CStr) -> SysResult<OwnedFd> {
    // SAFETY: path is a valid C string.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    // SAFETY: on success open_tree returned a new descriptor, owned by nothing else.
    check(ret).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH, {MOUNT_ATTR_IDMAP, userns_fd})`: idmaps a detached
/// mount through a user namespace.
pub fn idmap_mount(mount_fd: RawFd, userns_fd: RawFd) -> SysResult<()> {
    let mut attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: userns_fd as u64,
        ..MountAttr::default()
    };
    // SAFETY: an empty C string path with AT_EMPTY_PATH; attr is a valid mount_attr.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount_fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint,
            &mut attr as *mut MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check(ret).map(|_| ())
}

/// `move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`: attaches a detached mount.
pub fn move_mount_to(mount_fd: RawFd, target: &CStr) -> SysResult<()> {
    // SAFETY: valid C strings; plain integer flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount_fd,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    check(ret).map(|_| ())
}

// ---- parent side: the host process, outside any clone ----------------------------------

/// `umask(2)`: sets the file creation mask, returns the previous one. Allocation-free (the
/// child uses it around its mounts).
pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    // SAFETY: plain syscall with an integer argument; cannot fail.
    unsafe { libc::umask(mask) }
}

/// `prctl(2)` with integer arguments, returning its non-negative result (the `*_READ`,
/// `*_GET` options).
pub fn prctl_get(option: libc::c_int, a2: libc::c_ulong) -> SysResult<libc::c_int> {
    // SAFETY: every option we pass takes integer arguments only and only reads state.
    check_int(unsafe { libc::prctl(option, a2, 0 as libc::c_ulong, 0 as libc::c_ulong, 0) })
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)`: a new descriptor for the same file, at `min` or above.
pub fn dup_cloexec(fd: RawFd, min: RawFd) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let new = check_int(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: fcntl returned a new descriptor, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// `fchown(2)`.
pub fn fchown(fd: RawFd, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: plain syscall with integer arguments.
    check_int(unsafe { libc::fchown(fd, uid, gid) }).map(|_| ())
}

/// `ptsname_r(3)`: the path of the slave of pty master `master`.
pub fn ptsname(master: RawFd) -> SysResult<std::path::PathBuf> {
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: buf is a writable buffer of its length.
    let r = unsafe { libc::ptsname_r(master, buf.as_mut_ptr(), buf.len()) };
    if r != 0 {
        return Err(r);
    }
    // SAFETY: ptsname_r succeeded, so buf holds a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Ok(std::path::PathBuf::from(
        name.to_string_lossy().into_owned(),
    ))
}

/// `poll(2)` on `fds`, retried on `EINTR`; the number of ready descriptors.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> SysResult<usize> {
    loop {
        // SAFETY: fds is a valid, writable array of fds.len() pollfd structures.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = last_errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// A signal set of `sigs`.
fn sigset(sigs: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid sigset_t owned by this frame; the signals are valid numbers.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in sigs {
            libc::sigaddset(&mut set, *s);
        }
    }
    set
}

/// Blocks `sigs` in the calling thread (`pthread_sigmask(SIG_BLOCK)`); returns the previous
/// mask for [`restore_signal_mask`].
pub fn block_signals(sigs: &[libc::c_int]) -> SysResult<libc::sigset_t> {
    let set = sigset(sigs);
    // SAFETY: sigset_t is plain data; pthread_sigmask fills it.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set and old are valid sigset_t values owned by this frame.
    match unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) } {
        0 => Ok(old),
        e => Err(e),
    }
}

/// Sets the calling thread's signal mask back to `old` (from [`block_signals`]).
pub fn restore_signal_mask(old: &libc::sigset_t) {
    // SAFETY: old is a valid sigset_t; a null old-set pointer is allowed. It cannot fail for
    // SIG_SETMASK with a valid set.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

/// `signalfd(2)` for `sigs` (close-on-exec); the signals must be blocked.
pub fn signalfd(sigs: &[libc::c_int]) -> SysResult<OwnedFd> {
    let set = sigset(sigs);
    // SAFETY: set is initialised; -1 asks for a new signalfd.
    let fd = check_int(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) })?;
    // SAFETY: signalfd returned a new descriptor, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads one pending signal's number from a signalfd; `None` when none could be read.
pub fn read_signal(fd: RawFd) -> Option<i32> {
    // SAFETY: signalfd_siginfo is plain data.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: info is a writable buffer of `size` bytes.
    let n = unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
    (n == size as isize).then_some(info.ssi_signo as i32)
}

/// Raw `capset(2)` with a version-3 header and two data elements. Allocation-free (the child
/// drops its capabilities with it).
pub fn capset_v3(effective: u64, permitted: u64, inheritable: u64) -> SysResult<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut hdr = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |v: u64, hi: bool| if hi { (v >> 32) as u32 } else { v as u32 };
    let data = [false, true].map(|hi| Data {
        effective: half(effective, hi),
        permitted: half(permitted, hi),
        inheritable: half(inheritable, hi),
    });
    // SAFETY: hdr and data are valid capset structures (version 3 takes two data elements)
    // that live across the call.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) })
        .map(|_| ())
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, prog)` for the classic BPF program `program`.
/// Allocation-free (the child installs its filter with it, last).
pub fn seccomp_set_filter(program: &[seccompiler::sock_filter]) -> SysResult<()> {
    #[repr(C)]
    struct SockFprog {
        len: libc::c_ushort,
        filter: *const seccompiler::sock_filter,
    }
    let prog = SockFprog {
        len: program.len() as libc::c_ushort,
        filter: program.as_ptr(),
    };
    // SAFETY: prog describes `program`, a valid BPF program that outlives the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const SockFprog,
        )
    })
    .map(|_| ())
}
