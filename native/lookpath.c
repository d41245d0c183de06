/*
 * proxrun-launch: finds the program as runc's init does, with Go 1.19's exec.LookPath and the
 * container's PATH: a name with a slash is used as it is; otherwise each PATH element (empty
 * means ".") is joined with the name, and the first that is not a folder and has an execute bit
 * wins. A match relative to the working directory is refused (Go's ErrDot).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "launch.h"

/* Go's findExecutable: 0, or an errno (EACCES for a folder or a file without any x bit). */
static int find_executable(const char *file)
{
	struct stat st;
	if (stat(file, &st) != 0)
		return errno;
	if (!S_ISDIR(st.st_mode) && (st.st_mode & 0111) != 0)
		return 0;
	return EACCES;
}

/* filepath.Join(dir, file) for a file name without a slash: dir cleaned of repeated slashes. */
static char *join(const char *dir, const char *file)
{
	size_t dl = strlen(dir), fl = strlen(file);
	char *out = xmalloc(dl + fl + 2);
	size_t n = 0;
	for (size_t i = 0; i < dl; i++) {
		if (dir[i] == '/' && n > 0 && out[n - 1] == '/')
			continue;
		out[n++] = dir[i];
	}
	/* "./" and "x/." prefixes collapse as filepath.Clean would. */
	while (n >= 2 && out[n - 1] == '.' && out[n - 2] == '/')
		n -= 2;
	if (n == 1 && out[0] == '.')
		n = 0;
	if (n > 0 && out[n - 1] != '/')
		out[n++] = '/';
	memcpy(out + n, file, fl + 1);
	return out;
}

char *look_path(const char *file, const struct strlist *env, int *notfound, char *why, size_t whylen)
{
	*notfound = 0;
	if (strchr(file, '/') != NULL) {
		int e = find_executable(file);
		if (e == 0)
			return xstrdup(file);
		*notfound = e == ENOENT || e == ENOTDIR;
		snprintf(why, whylen, "%s %s: %s", e == EACCES ? "permission denied" : "stat", file, strerror(e));
		if (e == EACCES)
			snprintf(why, whylen, "permission denied");
		return NULL;
	}
	const char *path = env_get(env, "PATH");
	if (path != NULL && *path != '\0') {
		const char *p = path;
		for (;;) {
			const char *colon = strchr(p, ':');
			size_t len = colon == NULL ? strlen(p) : (size_t)(colon - p);
			char *dir = strndup(p, len);
			if (dir == NULL)
				fail("out of memory");
			char *candidate = join(len == 0 ? "." : dir, file);
			free(dir);
			if (find_executable(candidate) == 0) {
				if (candidate[0] != '/') {
					snprintf(why, whylen, "cannot run executable found relative to current directory");
					return NULL;
				}
				return candidate;
			}
			free(candidate);
			if (colon == NULL)
				break;
			p = colon + 1;
		}
	}
	*notfound = 1;
	snprintf(why, whylen, "executable file not found in $PATH");
	return NULL;
}
