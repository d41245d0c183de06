/*
 * proxrun-launch: the user switch, as runc 1.1's setupUser does it for the "uid:gid" it builds
 * from process.user: HOME comes from the first /etc/passwd line (of the container) whose uid
 * matches, else "/"; the supplementary groups are exactly process.user.additionalGids (runc's
 * explicit-group form adds none from /etc/group), set unless /proc/self/setgroups says "deny";
 * stdio not on /dev/null is chowned to the user (errors EINVAL, EPERM, EROFS ignored); then
 * setgid(2) and setuid(2) as raw system calls, with keep-caps on so the permitted set survives.
 * Also the environment helpers (os.Setenv semantics: a name set again keeps its place).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch.h"

#define MAX_ID 2147483647L /* runc's maxID: 1<<31 - 1 */

const char *env_get(const struct strlist *env, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < env->len; i++)
		if (strncmp(env->items[i], name, nl) == 0 && env->items[i][nl] == '=')
			return env->items[i] + nl + 1;
	return NULL;
}

void env_set(struct strlist *env, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	char *entry = xmalloc(nl + vl + 2);
	memcpy(entry, name, nl);
	entry[nl] = '=';
	memcpy(entry + nl + 1, value, vl + 1);
	for (size_t i = 0; i < env->len; i++) {
		if (strncmp(env->items[i], name, nl) == 0 && env->items[i][nl] == '=') {
			env->items[i] = entry;
			return;
		}
	}
	strlist_push(env, entry);
}

/* Go's strconv.Atoi as runc's parseParts uses it: anything unparsable is 0. */
static long atoi_or_zero(const char *s, size_t len)
{
	char buf[32];
	if (len == 0 || len >= sizeof buf)
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *end;
	errno = 0;
	long v = strtol(buf, &end, 10);
	if (errno != 0 || *end != '\0' || buf[0] == ' ')
		return 0;
	return v;
}

/* The home folder of the first /etc/passwd entry with this uid; NULL when there is none. */
static char *passwd_home(uid_t uid)
{
	FILE *f = fopen("/etc/passwd", "re");
	if (f == NULL)
		return NULL;
	char *line = NULL;
	size_t cap = 0;
	char *home = NULL;
	while (home == NULL && getline(&line, &cap, f) >= 0) {
		/* bytes.TrimSpace */
		char *s = line, *e = line + strlen(line);
		while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r' || e[-1] == '\v' || e[-1] == '\f'))
			e--;
		*e = '\0';
		if (s == e)
			continue;
		/* name:pass:uid:gid:gecos:home:shell */
		char *field[7] = { 0 };
		size_t flen[7] = { 0 };
		char *p = s;
		for (int i = 0; i < 7 && p != NULL; i++) {
			char *colon = strchr(p, ':');
			field[i] = p;
			flen[i] = colon == NULL ? strlen(p) : (size_t)(colon - p);
			p = colon == NULL ? NULL : colon + 1;
		}
		if (field[2] == NULL || atoi_or_zero(field[2], flen[2]) != (long)uid)
			continue;
		home = field[5] == NULL ? xstrdup("") : strndup(field[5], flen[5]);
		if (home == NULL)
			fail("out of memory");
	}
	free(line);
	fclose(f);
	return home;
}

static void fix_stdio(uid_t uid)
{
	struct stat null;
	if (stat("/dev/null", &null) != 0)
		fail_errno("stat /dev/null");
	for (int fd = 0; fd <= 2; fd++) {
		struct stat st;
		if (fstat(fd, &st) != 0)
			fail_errno("fstat stdio");
		if (st.st_uid == uid || st.st_rdev == null.st_rdev)
			continue;
		if (fchown(fd, uid, st.st_gid) != 0 && errno != EINVAL && errno != EPERM && errno != EROFS)
			fail_errno("chown stdio");
	}
}

static int setgroups_denied(void)
{
	int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		fail_errno("open /proc/self/setgroups");
	}
	char buf[32];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		fail_errno("read /proc/self/setgroups");
	buf[n] = '\0';
	char *s = buf;
	while (*s == ' ' || *s == '\n' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t'))
		e--;
	*e = '\0';
	return strcmp(s, "deny") == 0;
}

void setup_user(const struct launch *l)
{
	if ((long)l->uid > MAX_ID || (long)l->gid > MAX_ID)
		fail("unable to setup user: uids and gids must be in range 0-2147483647");
	char *home = passwd_home(l->uid);

	/* GetAdditionalGroups: numbers in range, duplicates once (the kernel sorts them anyway). */
	gid_t *groups = xmalloc((l->ngroups == 0 ? 1 : l->ngroups) * sizeof(gid_t));
	size_t n = 0;
	for (size_t i = 0; i < l->ngroups; i++) {
		if ((long)l->groups[i] > MAX_ID)
			fail("unable to setup user: uids and gids must be in range 0-2147483647");
		int dup = 0;
		for (size_t j = 0; j < n; j++)
			dup |= groups[j] == l->groups[i];
		if (!dup)
			groups[n++] = l->groups[i];
	}

	fix_stdio(l->uid);
	if (!setgroups_denied() && syscall(SYS_setgroups, n, groups) != 0)
		fail_errno("unable to setup user: setgroups");
	if (syscall(SYS_setgid, l->gid) != 0)
		fail_errno("unable to setup user: setgid");
	if (syscall(SYS_setuid, l->uid) != 0)
		fail_errno("unable to setup user: setuid");

	struct launch *mut = (struct launch *)l;
	const char *current = env_get(&mut->env, "HOME");
	if (current == NULL || *current == '\0')
		env_set(&mut->env, "HOME", home == NULL ? "/" : home);
}
