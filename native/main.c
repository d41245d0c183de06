/*
 * proxrun-launch: the last step before an app or an exec runs in a proxmox-lxc CT. It runs as the
 * CT's root and does, in runc 1.1's order (libcontainer standard_init_linux.go and
 * setns_init_linux.go, finalizeNamespace and setupUser in init_linux.go):
 *   the environment (populateProcessEnvironment), an exec's rlimits (runc sets them from outside
 *   before its init runs), the umask (container only: finalizeRootfs),
 *   no_new_privs, seccomp when no_new_privs is off (loading it then needs CAP_SYS_ADMIN, which is
 *   dropped later), fds above 2 marked close-on-exec, chdir (tried before the user switch and
 *   again after it), the bounding set, keep-caps, stdio owned by the user, the supplementary
 *   groups, gid, uid, HOME, keep-caps off, the effective/permitted/inheritable sets, the ambient
 *   set, the program looked up in the new PATH, seccomp when no_new_privs is on (as late as
 *   possible), every fd above 2 closed, execve.
 * Usage: proxrun-launch FILE      (the container's process; FILE readable only by the CT's root)
 *        proxrun-launch --env     (an exec: the input is in PROXRUN_LAUNCH_0, _1, ...)
 * A failure is one line on stderr and the exit status the input names (runc exec exits 255 when
 * it cannot start the process; for the container 127 means the program was not found).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch.h"

int fail_status = 126;

void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("proxrun-launch: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	_exit(fail_status);
}

void fail_errno(const char *what)
{
	fail("%s: %s", what, strerror(errno));
}

void *xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);
	if (p == NULL)
		fail("out of memory");
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n == 0 ? 1 : n);
	if (p == NULL)
		fail("out of memory");
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		fail("out of memory");
	return p;
}

/* Marks (cloexec) or closes every fd from 3 up, as runc's CloseExecFrom / UnsafeCloseFrom do. */
static void fds_from_3(int close_them)
{
	DIR *dir = opendir("/proc/self/fd");
	if (dir == NULL) {
		/* No /proc: fall back to the whole range. */
		long max = sysconf(_SC_OPEN_MAX);
		for (int fd = 3; fd < (max > 0 ? max : 1024); fd++) {
			if (close_them)
				close(fd);
			else
				fcntl(fd, F_SETFD, FD_CLOEXEC);
		}
		return;
	}
	int self = dirfd(dir);
	int fds[1024];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL && n < sizeof fds / sizeof fds[0]) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end != '\0' || fd < 3 || fd == self)
			continue;
		fds[n++] = (int)fd;
	}
	closedir(dir);
	for (size_t i = 0; i < n; i++) {
		if (close_them)
			close(fds[i]);
		else
			fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	}
}

/* runc's populateProcessEnvironment: os.Setenv of each entry, a later name replacing an earlier. */
static struct strlist build_env(const struct strlist *entries)
{
	struct strlist env = { 0 };
	env.items = xmalloc(sizeof(char *));
	env.items[0] = NULL;
	for (size_t i = 0; i < entries->len; i++) {
		const char *entry = entries->items[i];
		const char *eq = strchr(entry, '=');
		if (eq == NULL)
			fail("invalid environment variable: \"%s\"", entry);
		if (eq == entry)
			fail("environment variable name can't be empty: \"%s\"", entry);
		char *name = strndup(entry, (size_t)(eq - entry));
		if (name == NULL)
			fail("out of memory");
		env_set(&env, name, eq + 1);
		free(name);
	}
	return env;
}

/* runc's verifyCwd: getcwd must give an absolute path (not "(unreachable)/..."). */
static void verify_cwd(void)
{
	char buf[4096];
	if (getcwd(buf, sizeof buf) == NULL) {
		if (errno == ENOENT)
			fail("current working directory is outside of container mount namespace root -- possible container breakout detected");
		fail_errno("failed to verify if current working directory is safe");
	}
	if (buf[0] != '/')
		fail("current working directory is not absolute -- possible container breakout detected: cwd is \"%s\"", buf);
}

int main(int argc, char **argv)
{
	char *text;
	if (argc == 2 && strcmp(argv[1], "--env") == 0)
		text = read_input_env();
	else if (argc == 2 && argv[1][0] != '-')
		text = read_input_file(argv[1]);
	else
		fail("usage: proxrun-launch FILE | --env");

	struct launch l;
	char err[256];
	if (parse_launch(text, &l, err, sizeof err) != 0)
		fail("bad launch input: %s", err);
	fail_status = l.fail_other;

	struct strlist env = build_env(&l.env);
	l.env = env;

	/* runc sets rlimits from its parent before the process runs: first here, before seccomp. */
	for (size_t i = 0; i < l.nrlimits; i++) {
		struct rlimit lim = { l.rlimits[i].soft, l.rlimits[i].hard };
		if (setrlimit(l.rlimits[i].resource, &lim) != 0)
			fail("error setting rlimit type %d: %s", l.rlimits[i].resource, strerror(errno));
	}

	if (l.have_umask)
		umask(l.umask);

	if (l.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fail_errno("prctl(SET_NO_NEW_PRIVS)");

	/* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before the capabilities go. */
	if (l.seccomp.present && !l.no_new_privs)
		init_seccomp(&l.seccomp);

	/* finalizeNamespace */
	fds_from_3(0);
	int chdir_later = 0;
	if (chdir(l.cwd) != 0) {
		if (errno != EACCES && errno != EPERM)
			fail("chdir to cwd (\"%s\") set in config.json failed: %s", l.cwd, strerror(errno));
		chdir_later = 1;
	}
	apply_bounding(l.cap_bounding);
	set_keep_caps(1);
	setup_user(&l);
	if (chdir_later && chdir(l.cwd) != 0)
		fail("chdir to cwd (\"%s\") set in config.json failed: %s", l.cwd, strerror(errno));
	verify_cwd();
	set_keep_caps(0);
	apply_caps(&l);

	int notfound = 0;
	char why[512];
	char *path = look_path(l.args.items[0], &l.env, &notfound, why, sizeof why);
	if (path == NULL) {
		if (notfound)
			fail_status = l.fail_notfound;
		fail("exec: \"%s\": %s", l.args.items[0], why);
	}
	/* runc's system.Eaccess: faccessat2(AT_EACCESS), as the user the process now is. */
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) != 0)
		fail("exec %s: %s", path, strerror(errno));

	if (l.seccomp.present && l.no_new_privs)
		init_seccomp(&l.seccomp);

	fds_from_3(1);
	for (;;) {
		execve(path, l.args.items, l.env.items);
		if (errno != EINTR)
			break;
	}
	fail("exec %s: %s", path, strerror(errno));
}
