/*
 * proxrun-launch: what the parts of the launcher share. The launcher is the last step before an
 * app (or an exec) runs inside a proxmox-lxc CT: it applies the OCI process the way runc 1.1's
 * init does (groups, gid, uid with keep-caps, the five capability sets, no_new_privs, umask,
 * seccomp, the environment) and then execs process.args. Its input is a small line format that
 * proxrun's TypeScript renders (src/monitor/launch-input.ts), so no JSON is parsed here.
 */
#ifndef PROXRUN_LAUNCH_H
#define PROXRUN_LAUNCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct strlist {
	char **items;
	size_t len, cap;
};

struct sc_condition {
	unsigned int index;
	unsigned int op; /* libseccomp's enum scmp_compare */
	uint64_t value, value_two;
};

struct sc_rule {
	char *name;
	uint32_t action; /* libseccomp's native action value, errno included */
	size_t nconds;
	struct sc_condition *conds;
};

struct seccomp_spec {
	int present;
	uint32_t default_action;
	int enosys_stub;        /* prepend runc's -ENOSYS stub (patchbpf) */
	unsigned long flags;    /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
	struct strlist archs;   /* libseccomp arch names */
	struct sc_rule *rules;
	size_t nrules, caprules;
};

struct launch_rlimit {
	int resource;
	uint64_t soft, hard;
};

struct launch {
	int fail_notfound, fail_other;
	struct launch_rlimit *rlimits;
	size_t nrlimits;
	uid_t uid;
	gid_t gid;
	int have_user;
	gid_t *groups;
	size_t ngroups;
	int have_umask;
	mode_t umask;
	uint64_t cap_bounding, cap_effective, cap_inheritable, cap_permitted, cap_ambient;
	int have_caps;
	int no_new_privs;
	char *cwd;
	struct strlist env;
	struct strlist args;
	struct seccomp_spec seccomp;
};

/* input.c */
void strlist_push(struct strlist *list, char *item);
int parse_launch(char *text, struct launch *out, char *err, size_t errlen);
char *read_input_file(const char *path);
char *read_input_env(void);

/* failure handling (main.c) */
extern int fail_status;
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void fail_errno(const char *what) __attribute__((noreturn));
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* caps.c */
int cap_last_cap(void);
void apply_bounding(uint64_t bounding);
void apply_caps(const struct launch *l);
void set_keep_caps(int on);

/* user.c */
void setup_user(const struct launch *l);
void env_set(struct strlist *env, const char *name, const char *value);
const char *env_get(const struct strlist *env, const char *name);

/* seccomp.c */
void init_seccomp(const struct seccomp_spec *spec);

/* lookpath.c */
char *look_path(const char *file, const struct strlist *env, int *notfound, char *why, size_t whylen);

#endif
