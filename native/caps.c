/*
 * proxrun-launch: capabilities, as runc 1.1 applies them (libcontainer/capabilities with
 * syndtr/gocapability): names the kernel does not know are ignored (every set is cut to
 * /proc/sys/kernel/cap_last_cap); the bounding set is cut first, while the process is still
 * root, and only when CAP_SETPCAP is effective; then, after the user switch, capset(2) sets the
 * effective, permitted and inheritable sets exactly, and each ambient capability is raised or
 * lowered, ignoring errors (gocapability does: raising one that is not both permitted and
 * inheritable fails and the capability is simply not ambient, as under runc).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "launch.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_LOWER 3
#endif

int cap_last_cap(void)
{
	static int last = -1;
	if (last >= 0)
		return last;
	last = 63;
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[16];
		ssize_t n = read(fd, buf, sizeof buf - 1);
		if (n > 0) {
			buf[n] = '\0';
			char *end;
			long v = strtol(buf, &end, 10);
			if (end != buf && v >= 0 && v <= 63)
				last = (int)v;
		}
		close(fd);
	}
	return last;
}

static uint64_t known(uint64_t mask)
{
	int last = cap_last_cap();
	return last >= 63 ? mask : mask & ((UINT64_C(1) << (last + 1)) - 1);
}

static int setpcap_effective(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) != 0)
		return -1;
	return (data[0].effective & (1u << CAP_SETPCAP)) != 0;
}

static int drop_bounding(uint64_t keep)
{
	int on = setpcap_effective();
	if (on < 0)
		return -1;
	if (!on)
		return 0;
	keep = known(keep);
	for (int i = 0; i <= cap_last_cap(); i++) {
		if (keep & (UINT64_C(1) << i))
			continue;
		if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) != 0 && errno != EINVAL)
			return -1;
	}
	return 0;
}

void apply_bounding(uint64_t bounding)
{
	if (drop_bounding(bounding) != 0)
		fail_errno("unable to apply bounding set");
}

void set_keep_caps(int on)
{
	if (prctl(PR_SET_KEEPCAPS, on ? 1 : 0, 0, 0, 0) != 0)
		fail_errno(on ? "unable to set keep caps" : "unable to clear keep caps");
}

void apply_caps(const struct launch *l)
{
	if (drop_bounding(l->cap_bounding) != 0)
		fail_errno("unable to apply caps");
	uint64_t eff = known(l->cap_effective), prm = known(l->cap_permitted), inh = known(l->cap_inheritable);
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {
		{ (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
		{ (uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32) },
	};
	if (syscall(SYS_capset, &hdr, data) != 0)
		fail_errno("unable to apply caps");
	uint64_t amb = known(l->cap_ambient);
	for (int i = 0; i <= cap_last_cap(); i++) {
		int action = (amb & (UINT64_C(1) << i)) ? PR_CAP_AMBIENT_RAISE : PR_CAP_AMBIENT_LOWER;
		(void)prctl(PR_CAP_AMBIENT, action, i, 0, 0);
	}
}
