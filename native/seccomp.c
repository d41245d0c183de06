/*
 * proxrun-launch: linux.seccomp, installed the way runc 1.1 installs it (libcontainer/seccomp and
 * seccomp/patchbpf): a libseccomp filter with the default action, every architecture of the
 * profile added (one already present is fine), no_new_privs left to the caller; per syscall rule:
 * skipped when its action equals the default, skipped when libseccomp does not know the name;
 * without conditions one rule; with conditions one rule holding all of them, unless two
 * conditions test the same argument, in which case each condition becomes a rule of its own.
 * The program libseccomp generates is then exported, runc's -ENOSYS stub is put in front of it
 * (syscalls numbered above the highest one the profile names get ENOSYS instead of the default
 * action, per architecture of the profile, x32 apart from x86_64, s390 multiplexing), and the
 * result is loaded with prctl(2), or seccomp(2) when filter flags are asked for.
 * The action values, operators and arch names arrive resolved by the TypeScript side.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch.h"

/* ---- runc's matchCall ---- */

static void add_rule(scmp_filter_ctx ctx, const struct sc_rule *r, uint32_t default_action)
{
	if (r->action == default_action)
		return;
	int nr = seccomp_syscall_resolve_name(r->name);
	if (nr == __NR_SCMP_ERROR)
		return;
	int rc;
	if (r->nconds == 0) {
		rc = seccomp_rule_add_array(ctx, r->action, nr, 0, NULL);
		if (rc != 0)
			fail("error adding seccomp filter rule for syscall %s: %s", r->name, strerror(-rc));
		return;
	}
	struct scmp_arg_cmp *conds = xmalloc(r->nconds * sizeof *conds);
	unsigned int counts[6] = { 0 };
	int multiple = 0;
	for (size_t i = 0; i < r->nconds; i++) {
		conds[i] = (struct scmp_arg_cmp){ r->conds[i].index, (enum scmp_compare)r->conds[i].op, r->conds[i].value, r->conds[i].value_two };
		if (++counts[r->conds[i].index] > 1)
			multiple = 1;
	}
	if (multiple) {
		for (size_t i = 0; i < r->nconds; i++) {
			rc = seccomp_rule_add_array(ctx, r->action, nr, 1, &conds[i]);
			if (rc != 0)
				fail("error adding seccomp rule for syscall %s: %s", r->name, strerror(-rc));
		}
	} else {
		rc = seccomp_rule_add_array(ctx, r->action, nr, (unsigned int)r->nconds, conds);
		if (rc != 0)
			fail("error adding seccomp rule for syscall %s: %s", r->name, strerror(-rc));
	}
	free(conds);
}

/* ---- runc's patchbpf: the -ENOSYS stub ---- */

struct prog {
	struct sock_filter *insns;
	size_t len, cap;
};

/* Puts `n` instructions in front of the program (the stub is built back to front, as runc does). */
static void prepend(struct prog *p, const struct sock_filter *insns, size_t n)
{
	if (p->len + n > p->cap) {
		p->cap = (p->len + n) * 2;
		p->insns = xrealloc(p->insns, p->cap * sizeof *p->insns);
	}
	memmove(p->insns + n, p->insns, p->len * sizeof *p->insns);
	memcpy(p->insns, insns, n * sizeof *insns);
	p->len += n;
}

#define RET_ENOSYS SCMP_ACT_ERRNO(ENOSYS)
/* golang.org/x/net/bpf's assembly of each jump kind runc uses. */
#define JA(k) (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, (k))
#define JEQ(v, t, f) (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (v), (t), (f))
#define JNE(v, t) (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (v), 0, (t))
#define JGT(v, t, f) (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (v), (t), (f))
#define JLE(v, t) (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, (v), 0, (t))
#define JSET(v, t, f) (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (v), (t), (f))
#define JSETNOT(v, t) (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (v), 0, (t))
#define LDW(off) (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(k) (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (k))

struct arch_info {
	const char *name;
	uint32_t native; /* AUDIT_ARCH_* */
};

/* runc's archToNative, keyed by libseccomp's arch names. */
static const struct arch_info ARCHES[] = {
	{ "x86", AUDIT_ARCH_I386 },
	{ "x86_64", AUDIT_ARCH_X86_64 },
	{ "x32", AUDIT_ARCH_X86_64 },
	{ "arm", AUDIT_ARCH_ARM },
	{ "aarch64", AUDIT_ARCH_AARCH64 },
	{ "mips", AUDIT_ARCH_MIPS },
	{ "mips64", AUDIT_ARCH_MIPS64 },
	{ "mips64n32", AUDIT_ARCH_MIPS64N32 },
	{ "mipsel", AUDIT_ARCH_MIPSEL },
	{ "mipsel64", AUDIT_ARCH_MIPSEL64 },
	{ "mipsel64n32", AUDIT_ARCH_MIPSEL64N32 },
	{ "ppc", AUDIT_ARCH_PPC },
	{ "ppc64", AUDIT_ARCH_PPC64 },
	{ "ppc64le", AUDIT_ARCH_PPC64LE },
	{ "s390", AUDIT_ARCH_S390 },
	{ "s390x", AUDIT_ARCH_S390X },
};

struct last_syscall {
	uint32_t token; /* SCMP_ARCH_* */
	int sysno;
};

struct native_section {
	uint32_t native;
	size_t count;
	struct last_syscall last[2];
	uint32_t jump_from_end;
};

/* runc's findLastSyscalls: for each arch of the profile, the largest number among all its names. */
static size_t find_last_syscalls(const struct seccomp_spec *spec, struct native_section *sections)
{
	size_t nsec = 0;
	for (size_t a = 0; a < spec->archs.len; a++) {
		const char *name = spec->archs.items[a];
		uint32_t token = seccomp_arch_resolve_name(name);
		const struct arch_info *info = NULL;
		for (size_t i = 0; i < sizeof ARCHES / sizeof ARCHES[0]; i++)
			if (strcmp(ARCHES[i].name, name) == 0)
				info = &ARCHES[i];
		if (token == 0 || info == NULL)
			fail("cannot map seccomp architecture %s to an AUDIT_ARCH_ constant", name);
		struct native_section *sec = NULL;
		for (size_t i = 0; i < nsec; i++)
			if (sections[i].native == info->native)
				sec = &sections[i];
		if (sec == NULL) {
			sec = &sections[nsec++];
			memset(sec, 0, sizeof *sec);
			sec->native = info->native;
		}
		int seen = 0;
		for (size_t i = 0; i < sec->count; i++)
			seen |= sec->last[i].token == token;
		if (seen)
			continue;
		int largest = 0;
		for (size_t r = 0; r < spec->nrules; r++) {
			int nr = seccomp_syscall_resolve_name_arch(token, spec->rules[r].name);
			if (nr == __NR_SCMP_ERROR)
				continue;
			if (nr > largest)
				largest = nr;
		}
		if (largest != 0) {
			if (sec->count == 2)
				fail("invalid number of architecture overlaps");
			sec->last[sec->count++] = (struct last_syscall){ token, largest };
		}
	}
	return nsec;
}

/* runc's generateEnosysStub: built back to front on its own, then put in front of the filter. */
static void enosys_stub(const struct seccomp_spec *spec, struct prog *program)
{
	struct prog stub = { 0 };
	struct prog *tail = &stub;
	struct native_section sections[sizeof ARCHES / sizeof ARCHES[0]];
	size_t nsec = find_last_syscalls(spec, sections);

	const struct sock_filter end[] = { JA(1), RET(RET_ENOSYS) };
	prepend(tail, end, 2);

	for (size_t s = 0; s < nsec; s++) {
		struct native_section *sec = &sections[s];
		uint32_t base_enosys = (uint32_t)tail->len - 1;
		uint32_t base_filter = base_enosys + 1;
		struct sock_filter section[16];
		size_t n = 0;
		section[n++] = LDW(0);
		if (sec->count == 0)
			continue;
		if (sec->count == 1) {
			uint32_t token = sec->last[0].token;
			uint32_t sysno = (uint32_t)sec->last[0].sysno;
			if (token == SCMP_ARCH_S390 || token == SCMP_ARCH_S390X) {
				section[n++] = JNE(0, 1);
				section[n++] = RET(RET_ENOSYS);
			}
			struct sock_filter st[4];
			size_t sn = 0;
			if (base_enosys + 1 <= 255) {
				st[sn++] = JGT(sysno, (uint8_t)(base_enosys + 1), 0);
				st[sn++] = JA(base_filter);
			} else {
				st[sn++] = JLE(sysno, 1);
				st[sn++] = JA(base_enosys + 1);
				st[sn++] = JA(base_filter);
			}
			if (sec->native == AUDIT_ARCH_X86_64) {
				if (token == SCMP_ARCH_X86_64)
					section[n++] = JSET(1u << 30, (uint8_t)(sn - 1), 0);
				else if (token == SCMP_ARCH_X32)
					section[n++] = JSETNOT(1u << 30, (uint8_t)(sn - 1));
				else
					fail("unknown amd64 native architecture %#x", token);
			}
			for (size_t i = 0; i < sn; i++)
				section[n++] = st[i];
		} else {
			if (sec->native != AUDIT_ARCH_X86_64)
				fail("unknown architecture overlap on native arch %#x", sec->native);
			int x32 = -1, x86 = -1;
			for (size_t i = 0; i < 2; i++) {
				if (sec->last[i].token == SCMP_ARCH_X32)
					x32 = sec->last[i].sysno;
				if (sec->last[i].token == SCMP_ARCH_X86_64)
					x86 = sec->last[i].sysno;
			}
			if (x32 < 0 || x86 < 0)
				fail("missing x32 or x86_64 in overlapping x86_64 arch");
			if (base_enosys + 2 <= 255) {
				section[n++] = JSET(1u << 30, 1, 0);
				section[n++] = JGT((uint32_t)x86, (uint8_t)(base_enosys + 2), 1);
				section[n++] = JGT((uint32_t)x32, (uint8_t)(base_enosys + 1), 0);
				section[n++] = JA(base_filter);
			} else {
				section[n++] = JSET(1u << 30, 1, 0);
				section[n++] = JGT((uint32_t)x86, 1, 2);
				section[n++] = JLE((uint32_t)x32, 1);
				section[n++] = JA(base_enosys + 1);
				section[n++] = JA(base_filter);
			}
		}
		prepend(tail, section, n);
		sec->jump_from_end = (uint32_t)tail->len;
	}

	const struct sock_filter skip[] = { JA((uint32_t)tail->len) };
	prepend(tail, skip, 1);

	for (size_t s = 0; s < nsec; s++) {
		struct native_section *sec = &sections[s];
		if (sec->count == 0)
			continue;
		uint32_t jump = (uint32_t)tail->len - sec->jump_from_end;
		if (jump <= 255) {
			const struct sock_filter j[] = { JEQ(sec->native, (uint8_t)jump, 0) };
			prepend(tail, j, 1);
		} else {
			const struct sock_filter j[] = { JNE(sec->native, 1), JA(jump) };
			prepend(tail, j, 2);
		}
	}
	const struct sock_filter load[] = { LDW(4) };
	prepend(tail, load, 1);
	prepend(program, stub.insns, stub.len);
	free(stub.insns);
}

/* seccomp_export_bpf writes the program to an fd: a memfd, read back whole. */
static struct prog export_program(scmp_filter_ctx ctx)
{
	int fd = memfd_create("proxrun-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		fail_errno("seccomp: memfd_create");
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc != 0)
		fail("error exporting the seccomp filter: %s", strerror(-rc));
	off_t size = lseek(fd, 0, SEEK_END);
	if (size < 0 || size % (off_t)sizeof(struct sock_filter) != 0)
		fail("seccomp: exported program has a bad size");
	struct prog p = { 0 };
	p.len = (size_t)size / sizeof(struct sock_filter);
	p.cap = p.len + 64;
	p.insns = xmalloc(p.cap * sizeof *p.insns);
	if (pread(fd, p.insns, (size_t)size, 0) != size)
		fail_errno("seccomp: reading the exported program");
	close(fd);
	return p;
}

void init_seccomp(const struct seccomp_spec *spec)
{
	scmp_filter_ctx ctx = seccomp_init(spec->default_action);
	if (ctx == NULL)
		fail("error creating seccomp filter (default action %#x)", spec->default_action);
	for (size_t i = 0; i < spec->archs.len; i++) {
		uint32_t token = seccomp_arch_resolve_name(spec->archs.items[i]);
		if (token == 0)
			fail("error validating seccomp architecture %s", spec->archs.items[i]);
		int rc = seccomp_arch_add(ctx, token);
		if (rc != 0 && rc != -EEXIST)
			fail("error adding architecture %s to seccomp filter: %s", spec->archs.items[i], strerror(-rc));
	}
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0)
		fail("error setting no new privileges in the seccomp filter");
	for (size_t i = 0; i < spec->nrules; i++)
		add_rule(ctx, &spec->rules[i], spec->default_action);

	struct prog program = export_program(ctx);
	seccomp_release(ctx);
	if (spec->enosys_stub)
		enosys_stub(spec, &program);
	if (program.len > BPF_MAXINSNS)
		fail("error loading seccomp filter into kernel: the program has %zu instructions (at most %d)", program.len, BPF_MAXINSNS);

	struct sock_fprog fprog = { (unsigned short)program.len, program.insns };
	int rc;
	if (spec->flags == 0)
		rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0);
	else
		rc = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, spec->flags, &fprog);
	if (rc != 0)
		fail_errno("error loading seccomp filter into kernel");
	free(program.insns);
}
