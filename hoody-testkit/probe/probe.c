/* hoody-probe: a static test helper run inside test containers.
 * Each command prints one line "NAME: ok" or "NAME: errno=ENAME" and exits 0 on success,
 * 1 on failure, 2 on usage errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(const char *name, long ret) {
    if (ret < 0) {
        const char *n = strerrorname_np(errno);
        printf("%s: errno=%s\n", name, n ? n : "?");
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: hoody-probe COMMAND [ARGS]\n");
        return 2;
    }
    const char *cmd = argv[1];
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(cmd, "keyctl")) /* KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, create */
        return report(cmd, syscall(SYS_keyctl, 0, -3, 1, 0, 0));
    if (!strcmp(cmd, "kexec_load")) /* invalid flags: never loads or unloads anything */
        return report(cmd, syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xffff0000UL));
    if (!strcmp(cmd, "open_by_handle_at"))
        return report(cmd, syscall(SYS_open_by_handle_at, -1, NULL, 0));
    if (!strcmp(cmd, "bpf")) /* invalid command */
        return report(cmd, syscall(SYS_bpf, -1, NULL, 0));
    if (!strcmp(cmd, "mount-tmpfs") && argc == 3)
        return report(cmd, mount("tmpfs", argv[2], "tmpfs", 0, NULL));
    if (!strcmp(cmd, "write") && argc == 3) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0 && write(fd, "hoody\n", 6) != 6) fd = -1;
        return report(cmd, fd);
    }
    if (!strcmp(cmd, "alloc") && argc == 3) { /* allocate and touch N MiB */
        long mib = atol(argv[2]);
        for (long i = 0; i < mib; i++) {
            char *p = malloc(1 << 20);
            if (!p) return report(cmd, -1);
            memset(p, 1, 1 << 20);
        }
        printf("alloc: ok %ld MiB\n", mib);
        return 0;
    }
    if (!strcmp(cmd, "forkbomb") && argc == 3) { /* fork up to N children that sleep */
        long max = atol(argv[2]), n = 0;
        int err = 0;
        for (; n < max; n++) {
            pid_t p = fork();
            if (p == 0) { pause(); _exit(0); }
            if (p < 0) { err = errno; break; }
        }
        const char *en = err ? strerrorname_np(err) : "none";
        printf("forkbomb: forked=%ld error=%s\n", n, en ? en : "?");
        return err ? 1 : 0;
    }
    fprintf(stderr, "hoody-probe: unknown command %s\n", cmd);
    return 2;
}
