/*
 * proxrun-launch: reads the launch input. It comes from a file only the CT's root can read (the
 * container's process) or from environment variables PROXRUN_LAUNCH_0, _1, ... (an exec: they
 * travel through lxc-attach's environment, never through any argv). The format is lines of
 * space-separated words; the first line is "proxrun-launch 1". Strings are percent-encoded
 * (every byte <= 0x20, '%' and >= 0x7f as %XX), numbers are plain: decimal ids, octal umask,
 * hexadecimal capability masks and seccomp actions. src/monitor/launch-input.ts writes it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch.h"

#define ENV_PREFIX "PROXRUN_LAUNCH_"

void strlist_push(struct strlist *list, char *item)
{
	if (list->len + 1 >= list->cap) {
		list->cap = list->cap == 0 ? 16 : list->cap * 2;
		list->items = xrealloc(list->items, list->cap * sizeof(char *));
	}
	list->items[list->len++] = item;
	list->items[list->len] = NULL;
}

char *read_input_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("cannot open the launch input %s: %s", path, strerror(errno));
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("cannot read the launch input %s: %s", path, strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

char *read_input_env(void)
{
	size_t len = 0;
	char *buf = xstrdup("");
	for (int i = 0;; i++) {
		char name[64];
		snprintf(name, sizeof name, ENV_PREFIX "%d", i);
		const char *part = getenv(name);
		if (part == NULL)
			break;
		size_t plen = strlen(part);
		buf = xrealloc(buf, len + plen + 1);
		memcpy(buf + len, part, plen + 1);
		len += plen;
	}
	if (len == 0)
		fail("no launch input in the environment (" ENV_PREFIX "0)");
	return buf;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX in place; fails on a bad escape or a NUL byte. */
static int decode(char *word)
{
	char *out = word;
	for (char *in = word; *in != '\0'; in++) {
		if (*in != '%') {
			*out++ = *in;
			continue;
		}
		int hi = hexval(in[1]), lo = hi < 0 ? -1 : hexval(in[2]);
		if (hi < 0 || lo < 0)
			return -1;
		char c = (char)(hi * 16 + lo);
		if (c == '\0')
			return -1;
		*out++ = c;
		in += 2;
	}
	*out = '\0';
	return 0;
}

static int parse_u64(const char *word, int base, uint64_t max, uint64_t *out)
{
	if (*word == '\0' || *word == '-' || *word == '+')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(word, &end, base);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Splits a line into words at single spaces (the renderer never writes two in a row). */
static char **split(char *line, size_t *count)
{
	size_t max = 1;
	for (const char *p = line; *p != '\0'; p++)
		if (*p == ' ')
			max++;
	char **words = xmalloc(max * sizeof(char *));
	size_t n = 0;
	char *p = line;
	for (;;) {
		words[n++] = p;
		char *sp = strchr(p, ' ');
		if (sp == NULL)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	*count = n;
	return words;
}

#define BAD(...)                                         \
	do {                                                 \
		snprintf(err, errlen, __VA_ARGS__);              \
		return -1;                                       \
	} while (0)

static int parse_seccomp(char **w, size_t n, struct seccomp_spec *sc, char *err, size_t errlen, int lineno)
{
	uint64_t v;
	sc->present = 1;
	if (n == 3 && strcmp(w[1], "default") == 0) {
		if (parse_u64(w[2], 16, UINT32_MAX, &v) != 0)
			BAD("line %d: bad seccomp default action", lineno);
		sc->default_action = (uint32_t)v;
	} else if (n == 2 && strcmp(w[1], "enosys-stub") == 0) {
		sc->enosys_stub = 1;
	} else if (n == 3 && strcmp(w[1], "flags") == 0) {
		if (parse_u64(w[2], 10, UINT32_MAX, &v) != 0)
			BAD("line %d: bad seccomp flags", lineno);
		sc->flags = (unsigned long)v;
	} else if (n == 3 && strcmp(w[1], "arch") == 0) {
		if (decode(w[2]) != 0)
			BAD("line %d: bad arch name", lineno);
		strlist_push(&sc->archs, xstrdup(w[2]));
	} else if (n >= 4 && strcmp(w[1], "rule") == 0 && (n - 4) % 4 == 0) {
		if (sc->nrules == sc->caprules) {
			sc->caprules = sc->caprules == 0 ? 64 : sc->caprules * 2;
			sc->rules = xrealloc(sc->rules, sc->caprules * sizeof *sc->rules);
		}
		struct sc_rule *r = &sc->rules[sc->nrules];
		memset(r, 0, sizeof *r);
		if (decode(w[2]) != 0 || w[2][0] == '\0')
			BAD("line %d: bad syscall name", lineno);
		r->name = xstrdup(w[2]);
		if (parse_u64(w[3], 16, UINT32_MAX, &v) != 0)
			BAD("line %d: bad seccomp action", lineno);
		r->action = (uint32_t)v;
		r->nconds = (n - 4) / 4;
		r->conds = r->nconds == 0 ? NULL : xmalloc(r->nconds * sizeof *r->conds);
		for (size_t i = 0; i < r->nconds; i++) {
			uint64_t idx, op, a, b;
			if (parse_u64(w[4 + 4 * i], 10, 5, &idx) != 0 || parse_u64(w[5 + 4 * i], 10, 7, &op) != 0 || op == 0 ||
			    parse_u64(w[6 + 4 * i], 10, UINT64_MAX, &a) != 0 || parse_u64(w[7 + 4 * i], 10, UINT64_MAX, &b) != 0)
				BAD("line %d: bad seccomp condition", lineno);
			r->conds[i] = (struct sc_condition){ (unsigned int)idx, (unsigned int)op, a, b };
		}
		sc->nrules++;
	} else {
		BAD("line %d: unknown seccomp line", lineno);
	}
	return 0;
}

int parse_launch(char *text, struct launch *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof *l);
	l->fail_notfound = 127;
	l->fail_other = 126;
	int lineno = 0;
	char *save = NULL;
	int seen_header = 0;
	for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		size_t n;
		char **w = split(line, &n);
		uint64_t a, b;
		if (!seen_header) {
			if (n != 2 || strcmp(w[0], "proxrun-launch") != 0 || strcmp(w[1], "1") != 0)
				BAD("line 1: not a proxrun-launch version 1 input");
			seen_header = 1;
		} else if (strcmp(w[0], "fail") == 0 && n == 3) {
			if (parse_u64(w[1], 10, 255, &a) != 0 || parse_u64(w[2], 10, 255, &b) != 0)
				BAD("line %d: bad fail statuses", lineno);
			l->fail_notfound = (int)a;
			l->fail_other = (int)b;
		} else if (strcmp(w[0], "user") == 0 && n == 3) {
			if (parse_u64(w[1], 10, UINT32_MAX - 1, &a) != 0 || parse_u64(w[2], 10, UINT32_MAX - 1, &b) != 0)
				BAD("line %d: bad user", lineno);
			l->uid = (uid_t)a;
			l->gid = (gid_t)b;
			l->have_user = 1;
		} else if (strcmp(w[0], "groups") == 0) {
			l->ngroups = n - 1;
			l->groups = xmalloc((n > 1 ? n - 1 : 1) * sizeof(gid_t));
			for (size_t i = 1; i < n; i++) {
				if (parse_u64(w[i], 10, UINT32_MAX - 1, &a) != 0)
					BAD("line %d: bad group", lineno);
				l->groups[i - 1] = (gid_t)a;
			}
		} else if (strcmp(w[0], "umask") == 0 && n == 2) {
			if (parse_u64(w[1], 8, 0777, &a) != 0)
				BAD("line %d: bad umask", lineno);
			l->umask = (mode_t)a;
			l->have_umask = 1;
		} else if (strcmp(w[0], "caps") == 0 && n == 6) {
			uint64_t *sets[5] = { &l->cap_bounding, &l->cap_effective, &l->cap_inheritable, &l->cap_permitted, &l->cap_ambient };
			for (int i = 0; i < 5; i++)
				if (parse_u64(w[i + 1], 16, UINT64_MAX, sets[i]) != 0)
					BAD("line %d: bad capability mask", lineno);
			l->have_caps = 1;
		} else if (strcmp(w[0], "rlimit") == 0 && n == 4) {
			uint64_t res, soft, hard;
			if (parse_u64(w[1], 10, 15, &res) != 0 || parse_u64(w[2], 10, UINT64_MAX, &soft) != 0 || parse_u64(w[3], 10, UINT64_MAX, &hard) != 0)
				BAD("line %d: bad rlimit", lineno);
			l->rlimits = xrealloc(l->rlimits, (l->nrlimits + 1) * sizeof *l->rlimits);
			l->rlimits[l->nrlimits++] = (struct launch_rlimit){ (int)res, soft, hard };
		} else if (strcmp(w[0], "nnp") == 0 && n == 1) {
			l->no_new_privs = 1;
		} else if ((strcmp(w[0], "cwd") == 0 || strcmp(w[0], "env") == 0 || strcmp(w[0], "arg") == 0) && n == 2) {
			if (decode(w[1]) != 0)
				BAD("line %d: bad %s string", lineno, w[0]);
			if (w[0][0] == 'c')
				l->cwd = xstrdup(w[1]);
			else
				strlist_push(w[0][0] == 'e' ? &l->env : &l->args, xstrdup(w[1]));
		} else if (strcmp(w[0], "seccomp") == 0 && n >= 2) {
			if (parse_seccomp(w, n, &l->seccomp, err, errlen, lineno) != 0)
				return -1;
		} else {
			BAD("line %d: unknown directive %.40s", lineno, w[0]);
		}
	}
	if (!seen_header)
		BAD("empty launch input");
	if (!l->have_user || !l->have_caps || l->args.len == 0 || l->cwd == NULL)
		BAD("launch input lacks user, caps, cwd or args");
	if (l->env.items == NULL) {
		l->env.items = xmalloc(sizeof(char *));
		l->env.items[0] = NULL;
	}
	return 0;
}
