// fsstress: a filesystem-heavy load in the spirit of LTP's `fsstress -n 500
// -p 20`, for tsov's benchmark. It starts -p processes (itself, re-executed);
// each performs -n random operations — creates, writes, appends, truncates,
// renames, unlinks, mkdir/rmdir, hard links, readdir, stat, fsync — in its own
// directory -dir/p<i>, starting from whatever that directory already holds
// (files in a lower layer get copied up, renamed and whited out). It is
// seeded, so every run against every filesystem performs the same operations.
// It prints one JSON line: {"operations", "seconds", "errors"}. Each process
// owns its directory, so every operation must succeed: a failing one is
// printed on stderr, counted in errors, and fails the run.
//
// Static (CGO_ENABLED=0), so it runs inside a busybox container.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

type result struct {
	Operations int     `json:"operations"`
	Seconds    float64 `json:"seconds"`
	Errors     int     `json:"errors"`
}

func main() {
	dir := flag.String("dir", "", "the directory to stress (required)")
	ops := flag.Int("n", 500, "operations per process")
	procs := flag.Int("p", 20, "processes")
	seed := flag.Int64("s", 1, "seed")
	child := flag.Int("child", -1, "internal: run as process number N")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "fsstress: -dir is required")
		os.Exit(2)
	}
	if *child >= 0 {
		os.Exit(runChild(filepath.Join(*dir, "p"+strconv.Itoa(*child)), *ops, *seed+int64(*child)))
	}
	started := time.Now()
	cmds := make([]*exec.Cmd, *procs)
	for i := range cmds {
		cmds[i] = exec.Command("/proc/self/exe", "-dir", *dir, "-n", strconv.Itoa(*ops), "-s", strconv.FormatInt(*seed, 10), "-child", strconv.Itoa(i))
		cmds[i].Stdout, cmds[i].Stderr = os.Stderr, os.Stderr
		if err := cmds[i].Start(); err != nil {
			fmt.Fprintln(os.Stderr, "fsstress:", err)
			os.Exit(1)
		}
	}
	failed := 0
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			failed++
		}
	}
	out, _ := json.Marshal(result{Operations: *ops * *procs, Seconds: time.Since(started).Seconds(), Errors: failed})
	fmt.Println(string(out))
	if failed > 0 {
		os.Exit(1)
	}
}

// A process's view of its own tree: the files and directories it knows exist.
type tree struct {
	root  string
	rnd   *rand.Rand
	files []string
	dirs  []string
	next  int
	buf   []byte
}

func runChild(root string, ops int, seed int64) int {
	t := &tree{root: root, rnd: rand.New(rand.NewSource(seed)), buf: make([]byte, 64*1024), dirs: []string{"."}}
	t.rnd.Read(t.buf)
	if err := os.MkdirAll(root, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "fsstress:", err)
		return 1
	}
	if err := t.scan("."); err != nil {
		fmt.Fprintln(os.Stderr, "fsstress: scan:", err)
		return 1
	}
	for i := 0; i < ops; i++ {
		if err := t.step(); err != nil {
			fmt.Fprintf(os.Stderr, "fsstress: %s operation %d: %v\n", root, i, err)
			return 1
		}
	}
	return 0
}

// scan records what the directory already holds, in a stable order.
func (t *tree) scan(rel string) error {
	entries, err := os.ReadDir(filepath.Join(t.root, rel))
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		child := filepath.Join(rel, e.Name())
		if e.IsDir() {
			t.dirs = append(t.dirs, child)
			if err := t.scan(child); err != nil {
				return err
			}
		} else if e.Type().IsRegular() {
			t.files = append(t.files, child)
		}
	}
	return nil
}

func (t *tree) path(rel string) string { return filepath.Join(t.root, rel) }

func (t *tree) newName(dir string) string {
	t.next++
	return filepath.Join(dir, "n"+strconv.Itoa(t.next))
}

func (t *tree) pick(list []string) (int, string) {
	i := t.rnd.Intn(len(list))
	return i, list[i]
}

func (t *tree) data() []byte {
	n := t.rnd.Intn(16 * 1024)
	off := t.rnd.Intn(len(t.buf) - n)
	return t.buf[off : off+n]
}

// step performs one operation, weighted roughly as fsstress's defaults are.
func (t *tree) step() error {
	op := t.rnd.Intn(100)
	if len(t.files) == 0 && (op >= 25 && op < 80 || op >= 96) {
		op = 0 // nothing to act on yet: create
	}
	switch {
	case op < 25: // create and write
		_, dir := t.pick(t.dirs)
		name := t.newName(dir)
		if err := os.WriteFile(t.path(name), t.data(), 0o644); err != nil {
			return err
		}
		t.files = append(t.files, name)
	case op < 40: // overwrite part of a file (copies a lower file up)
		_, name := t.pick(t.files)
		return t.withFile(name, os.O_WRONLY, func(f *os.File) error {
			_, err := f.WriteAt(t.data(), int64(t.rnd.Intn(8*1024)))
			return err
		})
	case op < 48: // append
		_, name := t.pick(t.files)
		return t.withFile(name, os.O_WRONLY|os.O_APPEND, func(f *os.File) error {
			_, err := f.Write(t.data())
			return err
		})
	case op < 52: // truncate
		_, name := t.pick(t.files)
		if err := os.Truncate(t.path(name), int64(t.rnd.Intn(4096))); err != nil {
			return err
		}
	case op < 62: // rename a file into a (maybe other) directory
		i, name := t.pick(t.files)
		_, dir := t.pick(t.dirs)
		to := t.newName(dir)
		if err := os.Rename(t.path(name), t.path(to)); err != nil {
			return err
		}
		t.files[i] = to
	case op < 72: // unlink
		i, name := t.pick(t.files)
		if err := os.Remove(t.path(name)); err != nil {
			return err
		}
		t.files = append(t.files[:i], t.files[i+1:]...)
	case op < 76: // hard link
		_, name := t.pick(t.files)
		to := t.newName(filepath.Dir(name))
		if err := os.Link(t.path(name), t.path(to)); err != nil {
			return err
		}
		t.files = append(t.files, to)
	case op < 80: // fsync a file
		_, name := t.pick(t.files)
		return t.withFile(name, os.O_WRONLY, func(f *os.File) error { return f.Sync() })
	case op < 88: // mkdir
		_, dir := t.pick(t.dirs)
		name := t.newName(dir)
		if err := os.Mkdir(t.path(name), 0o755); err != nil {
			return err
		}
		t.dirs = append(t.dirs, name)
	case op < 92: // rmdir an empty directory, if there is one
		for i := len(t.dirs) - 1; i > 0; i-- {
			if t.isEmpty(t.dirs[i]) {
				if err := os.Remove(t.path(t.dirs[i])); err != nil {
					return err
				}
				t.dirs = append(t.dirs[:i], t.dirs[i+1:]...)
				break
			}
		}
	case op < 96: // readdir
		_, dir := t.pick(t.dirs)
		if _, err := os.ReadDir(t.path(dir)); err != nil {
			return err
		}
	default: // stat
		_, name := t.pick(t.files)
		if _, err := os.Lstat(t.path(name)); err != nil {
			return err
		}
	}
	return nil
}

// withFile opens a file of the tree, runs fn on it and closes it; the first error wins.
func (t *tree) withFile(name string, flags int, fn func(*os.File) error) error {
	f, err := os.OpenFile(t.path(name), flags, 0)
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// isEmpty: no file or directory this process knows of lies below dir.
func (t *tree) isEmpty(dir string) bool {
	prefix := dir + string(filepath.Separator)
	for _, list := range [][]string{t.files, t.dirs} {
		for _, p := range list {
			if len(p) > len(prefix) && p[:len(prefix)] == prefix {
				return false
			}
		}
	}
	return true
}
