/*
 * tsov-mount: how tsov-helper asks the kernel for a mount of directories a
 * request named. Node has no openat2, fsopen or move_mount, so this small
 * program is the helper's only native part (README, "Why a native piece").
 *
 * tsov-helper opens every directory itself (O_PATH), checks the directory it
 * opened (its real path, type and mount), and passes the open descriptors to
 * this program. The kernel is given those descriptors, never a path it would
 * resolve again: a path can be changed between a check and mount(2) (a
 * symlink swapped in, a ':' or ',' in a symlink's target); a descriptor
 * cannot. Nothing here opens a path.
 *
 *   tsov-mount overlay [--legacy] --source NAME --target FD --lower FD...
 *                      [--upper FD --work FD] [--flag NAME]... [--set NAME=VALUE]...
 *                      [--uidmap C:H:S... --gidmap C:H:S...]
 *   tsov-mount bind [--legacy] [--move] --from FD --target FD [--uidmap C:H:S... --gidmap C:H:S...]
 *
 * overlay: the new mount API; overlayfs takes lowerdir+, upperdir and workdir
 * as descriptors (fsconfig FSCONFIG_SET_FD, Linux >= 6.13), and mountinfo then
 * shows each layer's real path. Where the kernel refuses a descriptor (older
 * kernels), or with --legacy: mount(2) with the descriptors as paths relative
 * to /proc/self/fd (the working directory), which the kernel follows to the
 * opened directories themselves; 500 layers still fit one page.
 * With --uidmap and --gidmap (a user namespace's ranges: container id, host
 * id, count) every lower is given as an idmapped, read-only clone of itself
 * (open_tree + mount_setattr MOUNT_ATTR_IDMAP, never attached anywhere), so a
 * file a lower holds as uid 0 is seen and copied up as the mapped root; the
 * upper is not idmapped, so the container's writes land there with its host
 * ids. This is how containerd mounts a remapped rootfs (core/mount
 * mount_linux.go prepareIDMappedOverlay), done by descriptor.
 * bind: open_tree + move_mount (or mount(2) MS_BIND of /proc/self/fd/N);
 * --move moves the mount whose root FD is instead of binding it; with
 * --uidmap/--gidmap the bind is an idmapped, read-only clone (open_tree only).
 *
 * Option names and values are checked against fixed lists here again, so a
 * bug in the caller cannot turn into an option the kernel would act on.
 *
 * Exit status: 0 mounted (stdout "mounted fd" or "mounted legacy"); 1 the
 * kernel refused (stderr: the failed step with errno's text, then the
 * kernel's own messages, each on a line starting "kernel: "); 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LOWERS 500
#define MAX_OPTIONS 16
#define MOUNT_DATA_LIMIT 4096
/* The kernel's limit on the ranges of one id map (user_namespaces(7)). */
#define MAX_ID_RANGES 340
/* One "C H S\n" line of /proc/PID/uid_map: three 10-digit numbers. */
#define ID_MAP_LINE 34

struct option_choice {
	const char *name;
	const char *values[5]; /* NULL-terminated; {NULL} for a flag without value */
};

static const struct option_choice CHOICES[] = {
	{ "index", { "on", "off", NULL } },
	{ "redirect_dir", { "on", "off", "follow", "nofollow", NULL } },
	{ "metacopy", { "on", "off", NULL } },
	{ "xino", { "on", "off", "auto", NULL } },
	{ "nfs_export", { "on", "off", NULL } },
	{ "userxattr", { NULL } },
	{ "volatile", { NULL } },
};

struct request {
	int legacy;
	int move;
	const char *source;
	int target;
	int from;
	int lowers[MAX_LOWERS];
	int lower_count;
	int upper;
	int work;
	const char *names[MAX_OPTIONS];
	const char *values[MAX_OPTIONS]; /* NULL for a flag */
	int option_count;
	char uid_map[MAX_ID_RANGES * ID_MAP_LINE + 1];
	char gid_map[MAX_ID_RANGES * ID_MAP_LINE + 1];
	int uid_ranges;
	int gid_ranges;
};

static void usage(const char *problem)
{
	fprintf(stderr,
		"tsov-mount: %s\n"
		"usage: tsov-mount overlay [--legacy] --source NAME --target FD --lower FD... [--upper FD --work FD] [--flag NAME]... [--set NAME=VALUE]... [--uidmap C:H:S... --gidmap C:H:S...]\n"
		"       tsov-mount bind [--legacy] [--move] --from FD --target FD [--uidmap C:H:S... --gidmap C:H:S...]\n",
		problem);
	exit(2);
}

static int parse_fd(const char *text)
{
	char *end;
	long fd;

	errno = 0;
	fd = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || fd < 3 || fd > 65535)
		usage("a descriptor must be a number from 3 to 65535");
	return (int)fd;
}

static void check_source(const char *source)
{
	size_t i, n = strlen(source);

	if (n == 0 || n > 64)
		usage("--source must be 1-64 characters");
	for (i = 0; i < n; i++) {
		char c = source[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			usage("--source may hold only letters, digits and '-'");
	}
}

/* The choice that allows name (with value, or as a flag when value is NULL); exits otherwise. */
static void check_option(const char *name, const char *value)
{
	size_t i;
	int v;

	for (i = 0; i < sizeof(CHOICES) / sizeof(CHOICES[0]); i++) {
		if (strcmp(CHOICES[i].name, name) != 0)
			continue;
		if (value == NULL && CHOICES[i].values[0] == NULL)
			return;
		for (v = 0; value != NULL && CHOICES[i].values[v] != NULL; v++)
			if (strcmp(CHOICES[i].values[v], value) == 0)
				return;
		usage("an overlay option has a value it does not take");
	}
	usage("unknown overlay option");
}

/* One decimal id: digits only, at most 4294967295. */
static uint64_t parse_id(const char *text, const char *end)
{
	uint64_t value = 0;
	const char *c;

	if (text == end || end - text > 10)
		usage("an id map range is C:H:S with decimal numbers");
	for (c = text; c < end; c++) {
		if (*c < '0' || *c > '9')
			usage("an id map range is C:H:S with decimal numbers");
		value = value * 10 + (uint64_t)(*c - '0');
	}
	return value;
}

/* Appends "C H S\n" for the range "C:H:S" to map; the ids must stay below (uid_t)-1. */
static void add_range(char *map, int *count, const char *text)
{
	const char *first = strchr(text, ':');
	const char *second = first == NULL ? NULL : strchr(first + 1, ':');
	uint64_t container, host, size;
	size_t used = strlen(map);

	if (second == NULL)
		usage("an id map range is C:H:S");
	container = parse_id(text, first);
	host = parse_id(first + 1, second);
	size = parse_id(second + 1, second + 1 + strlen(second + 1));
	if (size == 0 || container + size > UINT32_MAX || host + size > UINT32_MAX)
		usage("an id map range must map at least one id and stay below 4294967295");
	if (*count == MAX_ID_RANGES)
		usage("more than 340 ranges in an id map");
	snprintf(map + used, ID_MAP_LINE + 1, "%llu %llu %llu\n", (unsigned long long)container, (unsigned long long)host, (unsigned long long)size);
	(*count)++;
}

static void add_option(struct request *r, const char *name, const char *value)
{
	check_option(name, value);
	if (r->option_count == MAX_OPTIONS)
		usage("too many options");
	r->names[r->option_count] = name;
	r->values[r->option_count] = value;
	r->option_count++;
}

static void check_directory(int fd, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "tsov-mount: the %s descriptor %d is not an open directory\n", what, fd);
		exit(2);
	}
}

static void parse(int argc, char **argv, struct request *r, int overlay)
{
	int i;

	memset(r, 0, sizeof(*r));
	r->target = r->from = r->upper = r->work = -1;
	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(arg, "--legacy") == 0) {
			r->legacy = 1;
			continue;
		}
		if (!overlay && strcmp(arg, "--move") == 0) {
			r->move = 1;
			continue;
		}
		if (value == NULL)
			usage("an option is missing its value");
		i++;
		if (strcmp(arg, "--target") == 0) {
			r->target = parse_fd(value);
		} else if (!overlay && strcmp(arg, "--from") == 0) {
			r->from = parse_fd(value);
		} else if (overlay && strcmp(arg, "--source") == 0) {
			check_source(value);
			r->source = value;
		} else if (overlay && strcmp(arg, "--lower") == 0) {
			if (r->lower_count == MAX_LOWERS)
				usage("more than 500 lowers");
			r->lowers[r->lower_count++] = parse_fd(value);
		} else if (overlay && strcmp(arg, "--upper") == 0) {
			r->upper = parse_fd(value);
		} else if (overlay && strcmp(arg, "--work") == 0) {
			r->work = parse_fd(value);
		} else if (strcmp(arg, "--uidmap") == 0) {
			add_range(r->uid_map, &r->uid_ranges, value);
		} else if (strcmp(arg, "--gidmap") == 0) {
			add_range(r->gid_map, &r->gid_ranges, value);
		} else if (overlay && strcmp(arg, "--flag") == 0) {
			add_option(r, value, NULL);
		} else if (overlay && strcmp(arg, "--set") == 0) {
			char *copy = strdup(value);
			char *equals = copy == NULL ? NULL : strchr(copy, '=');
			if (equals == NULL)
				usage("--set takes NAME=VALUE");
			*equals = '\0';
			add_option(r, copy, equals + 1);
		} else {
			usage("unknown argument");
		}
	}
	if (r->target < 0)
		usage("--target is required");
	check_directory(r->target, "target");
	if ((r->uid_ranges == 0) != (r->gid_ranges == 0))
		usage("--uidmap and --gidmap go together");
	if (!overlay) {
		if (r->from < 0)
			usage("--from is required");
		check_directory(r->from, "bind source");
		if (r->uid_ranges > 0 && (r->move || r->legacy))
			usage("an idmapped bind is a new clone: not with --move or --legacy");
		return;
	}
	if (r->source == NULL)
		usage("--source is required");
	if (r->lower_count == 0)
		usage("at least one --lower is required");
	if ((r->upper < 0) != (r->work < 0))
		usage("--upper and --work go together");
	for (i = 0; i < r->lower_count; i++)
		check_directory(r->lowers[i], "lower");
	if (r->upper >= 0) {
		check_directory(r->upper, "upper");
		check_directory(r->work, "work");
	}
}

/* The kernel's messages about a failed fs context, one per read(2) ("e overlayfs: ..."). */
static void print_context_log(int fs)
{
	char message[1024];
	ssize_t n;

	while ((n = read(fs, message, sizeof(message) - 1)) > 0) {
		message[n] = '\0';
		if (n > 2 && message[1] == ' ')
			fprintf(stderr, "kernel: %s\n", message + 2);
		else
			fprintf(stderr, "kernel: %s\n", message);
	}
}

static void fail(const char *step, int error, int fs)
{
	fprintf(stderr, "tsov-mount: %s: %s\n", step, strerror(error));
	if (fs >= 0)
		print_context_log(fs);
	exit(1);
}

static int sys_fsopen(const char *name, unsigned int flags) { return (int)syscall(SYS_fsopen, name, flags); }
static int sys_fsconfig(int fs, unsigned int cmd, const char *key, const void *value, int aux) { return (int)syscall(SYS_fsconfig, fs, cmd, key, value, aux); }
static int sys_fsmount(int fs, unsigned int flags, unsigned int attrs) { return (int)syscall(SYS_fsmount, fs, flags, attrs); }
static int sys_move_mount(int from, const char *from_path, int to, const char *to_path, unsigned int flags) { return (int)syscall(SYS_move_mount, from, from_path, to, to_path, flags); }
static int sys_open_tree(int dfd, const char *path, unsigned int flags) { return (int)syscall(SYS_open_tree, dfd, path, flags); }

static int sys_mount_setattr(int dfd, const char *path, unsigned int flags, struct mount_attr *attr) { return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof(*attr)); }

/* Writes a whole id map to /proc/PID/FILE. */
static void write_id_map(pid_t pid, const char *file, const char *map)
{
	char path[64];
	size_t n = strlen(map);
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, map, n) != (ssize_t)n)
		fail("writing the user namespace's id map", errno, -1);
	close(fd);
}

/*
 * A user namespace with the request's maps, as a descriptor: a child enters a
 * new one and waits while this process (root in the initial namespace) writes
 * its maps, then it exits; the descriptor keeps the namespace.
 */
static int make_user_namespace(const struct request *r)
{
	int ready[2], done[2], ns;
	char path[64], byte = 0;
	pid_t child;

	if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(done, O_CLOEXEC) != 0)
		fail("pipe", errno, -1);
	child = fork();
	if (child < 0)
		fail("fork", errno, -1);
	if (child == 0) {
		/*
		 * Only the parent may hold done's write end: if it exits on any
		 * failure before releasing this process, the read below sees EOF
		 * and this process ends too, instead of waiting forever.
		 */
		close(ready[0]);
		close(done[1]);
		byte = unshare(CLONE_NEWUSER) == 0 ? 1 : 0;
		if (write(ready[1], &byte, 1) != 1 || read(done[0], &byte, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	if (read(ready[0], &byte, 1) != 1 || byte != 1) {
		waitpid(child, NULL, 0);
		fail("unshare CLONE_NEWUSER", EPERM, -1);
	}
	write_id_map(child, "uid_map", r->uid_map);
	write_id_map(child, "gid_map", r->gid_map);
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)child);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		fail("opening the user namespace", errno, -1);
	if (write(done[1], &byte, 1) != 1)
		fail("releasing the user namespace's process", errno, -1);
	waitpid(child, NULL, 0);
	close(ready[0]);
	close(done[1]);
	return ns;
}

/* A detached, read-only clone of the directory fd, idmapped to the user namespace ns. */
static int idmapped_clone(int fd, int ns)
{
	struct mount_attr attr;
	int tree;

	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY;
	attr.userns_fd = (uint64_t)ns;
	tree = sys_open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (tree < 0)
		fail("open_tree of a layer to idmap", errno, -1);
	if (sys_mount_setattr(tree, "", AT_EMPTY_PATH, &attr) != 0)
		fail("mount_setattr MOUNT_ATTR_IDMAP of a lower (its filesystem cannot be idmapped, or the kernel is older than 5.12)", errno, -1);
	return tree;
}

/* Replaces each lower descriptor with a detached, read-only clone idmapped to the request's user namespace. */
static void idmap_lowers(struct request *r)
{
	int ns, i;

	if (r->uid_ranges == 0)
		return;
	ns = make_user_namespace(r);
	for (i = 0; i < r->lower_count; i++)
		r->lowers[i] = idmapped_clone(r->lowers[i], ns);
	close(ns);
}

/* Attaches a detached mount at the target descriptor. */
static void attach(int mount_fd, int target, int fs)
{
	if (sys_move_mount(mount_fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
		fail("move_mount", errno, fs);
}

/*
 * Returns 0 when mounted; -1 when the kernel cannot take layers as
 * descriptors (then nothing was mounted and the legacy way is tried).
 */
static int overlay_by_descriptors(const struct request *r)
{
	int fs, i, mount_fd;

	fs = sys_fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0) {
		if (errno == ENOSYS)
			return -1;
		fail("fsopen overlay", errno, -1);
	}
	if (sys_fsconfig(fs, FSCONFIG_SET_STRING, "source", r->source, 0) != 0)
		fail("fsconfig source", errno, fs);
	for (i = 0; i < r->lower_count; i++) {
		if (sys_fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, r->lowers[i]) != 0) {
			/* Before 6.13 (EINVAL) or 6.8 (unknown parameter): no descriptors for layers. */
			if (i == 0 && errno == EINVAL) {
				close(fs);
				return -1;
			}
			fail("fsconfig lowerdir+", errno, fs);
		}
	}
	if (r->upper >= 0) {
		if (sys_fsconfig(fs, FSCONFIG_SET_FD, "upperdir", NULL, r->upper) != 0)
			fail("fsconfig upperdir", errno, fs);
		if (sys_fsconfig(fs, FSCONFIG_SET_FD, "workdir", NULL, r->work) != 0)
			fail("fsconfig workdir", errno, fs);
	}
	for (i = 0; i < r->option_count; i++) {
		int ok = r->values[i] == NULL ? sys_fsconfig(fs, FSCONFIG_SET_FLAG, r->names[i], NULL, 0)
					      : sys_fsconfig(fs, FSCONFIG_SET_STRING, r->names[i], r->values[i], 0);
		if (ok != 0)
			fail("fsconfig option", errno, fs);
	}
	if (sys_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0)
		fail("creating the overlay", errno, fs);
	mount_fd = sys_fsmount(fs, FSMOUNT_CLOEXEC, 0);
	if (mount_fd < 0)
		fail("fsmount", errno, fs);
	attach(mount_fd, r->target, fs);
	return 0;
}

/* Appends text to the option data; exits when it would not fit one page. */
static void append(char *data, size_t *used, const char *text)
{
	size_t n = strlen(text);

	if (*used + n + 1 > MOUNT_DATA_LIMIT) {
		fprintf(stderr, "tsov-mount: the overlay option data would exceed %d bytes\n", MOUNT_DATA_LIMIT - 1);
		exit(1);
	}
	memcpy(data + *used, text, n + 1);
	*used += n;
}

static void overlay_legacy(const struct request *r)
{
	char data[MOUNT_DATA_LIMIT], number[32], target[64];
	size_t used = 0;
	int i;

	data[0] = '\0';
	append(data, &used, "lowerdir=");
	for (i = 0; i < r->lower_count; i++) {
		snprintf(number, sizeof(number), i == 0 ? "%d" : ":%d", r->lowers[i]);
		append(data, &used, number);
	}
	if (r->upper >= 0) {
		snprintf(number, sizeof(number), ",upperdir=%d,workdir=%d", r->upper, r->work);
		append(data, &used, number);
	}
	for (i = 0; i < r->option_count; i++) {
		append(data, &used, ",");
		append(data, &used, r->names[i]);
		if (r->values[i] != NULL) {
			append(data, &used, "=");
			append(data, &used, r->values[i]);
		}
	}
	if (chdir("/proc/self/fd") != 0)
		fail("chdir /proc/self/fd", errno, -1);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", r->target);
	if (mount(r->source, target, "overlay", 0, data) != 0)
		fail("mount overlay", errno, -1);
}

/* Returns 1 when bound through descriptors, 0 through mount(2). */
static int bind(const struct request *r)
{
	char from[64], target[64];
	int tree;

	if (r->uid_ranges > 0) {
		int ns = make_user_namespace(r);
		tree = idmapped_clone(r->from, ns);
		close(ns);
		attach(tree, r->target, -1);
		return 1;
	}
	if (!r->legacy) {
		tree = sys_open_tree(r->from, "", (r->move ? 0 : OPEN_TREE_CLONE) | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
		if (tree >= 0) {
			attach(tree, r->target, -1);
			return 1;
		}
		if (errno != ENOSYS)
			fail("open_tree", errno, -1);
	}
	snprintf(from, sizeof(from), "/proc/self/fd/%d", r->from);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", r->target);
	if (mount(from, target, NULL, r->move ? MS_MOVE : MS_BIND, NULL) != 0)
		fail(r->move ? "mount move" : "mount bind", errno, -1);
	return 0;
}

int main(int argc, char **argv)
{
	struct request r;

	if (argc < 2)
		usage("no command");
	if (strcmp(argv[1], "overlay") == 0) {
		parse(argc, argv, &r, 1);
		idmap_lowers(&r);
		if (!r.legacy && overlay_by_descriptors(&r) == 0) {
			puts("mounted fd");
			return 0;
		}
		overlay_legacy(&r);
		puts("mounted legacy");
		return 0;
	}
	if (strcmp(argv[1], "bind") == 0) {
		parse(argc, argv, &r, 0);
		puts(bind(&r) ? "mounted fd" : "mounted legacy");
		return 0;
	}
	usage("unknown command");
	return 2;
}
