// Command load-driver runs one snapshotter workload against a Snapshots API
// socket through containerd's own proxy client (snapshots/proxy), so tsov and
// the reference proxy see byte-identical calls. It prints one JSON object.
//
//	load-driver -address SOCK -workload cycle -workers 8 -files 20 -duration 10s
//	load-driver -address SOCK -workload chain -layers 128 -calls 2000
//	load-driver -address SOCK -workload list -snapshots 2000 -calls 50
//
// Built like reference-proxy (GOPATH mode, Debian's containerd source).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/proxy"
	"google.golang.org/grpc"
)

// Result is what the bench orchestrator reads: throughput in operations per
// second and latency percentiles in milliseconds, per named measurement.
type Result struct {
	Workload     string             `json:"workload"`
	Operations   int                `json:"operations"`
	Seconds      float64            `json:"seconds"`
	PerSecond    float64            `json:"perSecond"`
	P50Ms        float64            `json:"p50Ms"`
	P99Ms        float64            `json:"p99Ms"`
	Measurements map[string]Latency `json:"measurements,omitempty"`
}

// Latency summarises one kind of call.
type Latency struct {
	Count  int     `json:"count"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P99Ms  float64 `json:"p99Ms"`
}

func main() {
	address := flag.String("address", "", "Snapshots API unix socket")
	workload := flag.String("workload", "", "cycle, chain, list or usage")
	workers := flag.Int("workers", 1, "cycle: concurrent workers")
	files := flag.Int("files", 0, "cycle: small files written into the upper before Commit; usage: files in the active snapshot's upper")
	duration := flag.Duration("duration", 10*time.Second, "cycle: how long to run")
	prefix := flag.String("prefix", "", "cycle: prefix of every snapshot's name, its base's too (to run again on the same server)")
	rate := flag.Float64("rate", 0, "cycle: at most this many cycles per second in all (0: each worker starts its next cycle at once)")
	layers := flag.Int("layers", 128, "chain: layers under the view")
	count := flag.Int("snapshots", 2000, "list: committed snapshots to list")
	calls := flag.Int("calls", 1000, "chain, list, usage: timed calls")
	writeEach := flag.Bool("write-each", false, "usage: write a file into the upper before each timed call (a container that keeps writing)")
	flag.Parse()
	if *address == "" {
		fail(fmt.Errorf("-address is required"))
	}
	conn, err := grpc.Dial("unix://"+*address, grpc.WithInsecure())
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	sn := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "bench")
	ctx := context.Background()

	var result Result
	switch *workload {
	case "cycle":
		result, err = cycle(ctx, sn, *prefix, *workers, *files, *duration, *rate)
	case "chain":
		result, err = chain(ctx, sn, *layers, *calls)
	case "list":
		result, err = list(ctx, sn, *count, *calls)
	case "usage":
		result, err = usage(ctx, sn, *files, *calls, *writeEach)
	default:
		err = fmt.Errorf("unknown -workload %q: cycle, chain, list or usage", *workload)
	}
	if err != nil {
		fail(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "load-driver: %v\n", err)
	os.Exit(1)
}

// cycle: each worker loops Prepare(parent=base) → Mounts → write files →
// Commit → Stat → Remove; one operation is one whole loop. With a rate, a
// worker starts a cycle only on a tick of a shared ticker (ticks no worker
// is free to take are dropped), so two servers can be compared at the same
// load instead of each at the load its own speed invites.
func cycle(ctx context.Context, sn snapshots.Snapshotter, prefix string, workers, files int, duration time.Duration, rate float64) (Result, error) {
	base, err := commitBase(ctx, sn, prefix+"cycle-base")
	if err != nil {
		return Result{}, err
	}
	var ticks <-chan time.Time
	if rate > 0 {
		ticker := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer ticker.Stop()
		ticks = ticker.C
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		perCall   = map[string][]time.Duration{}
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(duration)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []time.Duration
			calls := map[string][]time.Duration{}
			for i := 0; time.Now().Before(deadline); i++ {
				if ticks != nil {
					<-ticks
				}
				began := time.Now()
				if err := oneCycle(ctx, sn, base, fmt.Sprintf("%sw%d-%d", prefix, w, i), files, calls); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(began))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			for call, ds := range calls {
				perCall[call] = append(perCall[call], ds...)
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	if firstErr != nil {
		return Result{}, firstErr
	}
	elapsed := time.Since(start).Seconds()
	p50, p99 := percentiles(latencies)
	measurements := map[string]Latency{}
	for call, ds := range perCall {
		measurements[call] = summarise(ds)
	}
	return Result{
		Workload:     fmt.Sprintf("cycle workers=%d files=%d rate=%g", workers, files, rate),
		Operations:   len(latencies),
		Seconds:      elapsed,
		PerSecond:    float64(len(latencies)) / elapsed,
		P50Ms:        p50,
		P99Ms:        p99,
		Measurements: measurements,
	}, nil
}

// timed runs one call and records its latency under name.
func timed(calls map[string][]time.Duration, name string, call func() error) error {
	began := time.Now()
	err := call()
	calls[name] = append(calls[name], time.Since(began))
	return err
}

func oneCycle(ctx context.Context, sn snapshots.Snapshotter, base, key string, files int, calls map[string][]time.Duration) error {
	if err := timed(calls, "Prepare", func() error { _, err := sn.Prepare(ctx, key, base); return err }); err != nil {
		return fmt.Errorf("prepare %s: %w", key, err)
	}
	var mounts []mount.Mount
	if err := timed(calls, "Mounts", func() (err error) { mounts, err = sn.Mounts(ctx, key); return err }); err != nil {
		return fmt.Errorf("mounts %s: %w", key, err)
	}
	if files > 0 {
		upper, err := upperDir(mounts)
		if err != nil {
			return err
		}
		for f := 0; f < files; f++ {
			if err := os.WriteFile(filepath.Join(upper, fmt.Sprintf("file-%d", f)), []byte("tsov bench payload\n"), 0o644); err != nil {
				return err
			}
		}
	}
	name := key + "-committed"
	if err := timed(calls, "Commit", func() error { return sn.Commit(ctx, name, key) }); err != nil {
		return fmt.Errorf("commit %s: %w", key, err)
	}
	if err := timed(calls, "Stat", func() error { _, err := sn.Stat(ctx, name); return err }); err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	if err := timed(calls, "Remove", func() error { return sn.Remove(ctx, name) }); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// upperDir is where a container's writes land: the overlay's upperdir, or
// the bind source of a snapshot without parents.
func upperDir(mounts []mount.Mount) (string, error) {
	for _, m := range mounts {
		for _, option := range m.Options {
			if strings.HasPrefix(option, "upperdir=") {
				return strings.TrimPrefix(option, "upperdir="), nil
			}
		}
		if m.Type == "bind" {
			return m.Source, nil
		}
	}
	return "", fmt.Errorf("no upper directory in mounts %+v", mounts)
}

func commitBase(ctx context.Context, sn snapshots.Snapshotter, name string) (string, error) {
	key := name + "-active"
	if _, err := sn.Prepare(ctx, key, ""); err != nil {
		return "", err
	}
	return name, sn.Commit(ctx, name, key)
}

// chain: 128 committed layers, a View of the top; timed Mounts of the view, twice
// as many calls as asked: "first" and "next" in the measurements.
func chain(ctx context.Context, sn snapshots.Snapshotter, layers, calls int) (Result, error) {
	parent := ""
	for l := 0; l < layers; l++ {
		name := fmt.Sprintf("layer-%d", l)
		key := name + "-active"
		if _, err := sn.Prepare(ctx, key, parent); err != nil {
			return Result{}, err
		}
		if err := sn.Commit(ctx, name, key); err != nil {
			return Result{}, err
		}
		parent = name
	}
	if _, err := sn.View(ctx, "chain-view", parent); err != nil {
		return Result{}, err
	}
	mountsOfView := func() error {
		mounts, err := sn.Mounts(ctx, "chain-view")
		if err == nil && len(mounts) != 1 {
			err = fmt.Errorf("expected one overlay mount, got %d", len(mounts))
		}
		return err
	}
	// The first calls right after the chain is made (the result's own figures, as
	// before), then as many again: a server that compiles its code as it runs (V8)
	// is still warming up during the first ones, which a long-running one is not.
	first, err := timeCalls(fmt.Sprintf("chain Mounts of a %d-layer view", layers), calls, mountsOfView)
	if err != nil {
		return Result{}, err
	}
	next, err := timeCalls("next", calls, mountsOfView)
	if err != nil {
		return Result{}, err
	}
	first.Measurements = map[string]Latency{
		"first": {Count: calls, P50Ms: first.P50Ms, P99Ms: first.P99Ms},
		"next":  {Count: calls, P50Ms: next.P50Ms, P99Ms: next.P99Ms},
	}
	return first, nil
}

// list: committed snapshots with labels; timed full and filtered List.
func list(ctx context.Context, sn snapshots.Snapshotter, count, calls int) (Result, error) {
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("listed-%d", i)
		key := name + "-active"
		labels := snapshots.WithLabels(map[string]string{
			"bench.tsov/group":           fmt.Sprintf("g%d", i%20),
			"containerd.io/snapshot.ref": fmt.Sprintf("sha256:%064d", i),
			"containerd.io/gc.root":      "2026-11-24T00:00:00Z",
		})
		if _, err := sn.Prepare(ctx, key, "", labels); err != nil {
			return Result{}, err
		}
		if err := sn.Commit(ctx, name, key, labels); err != nil {
			return Result{}, err
		}
	}
	walk := func(filters ...string) func() error {
		return func() error {
			seen := 0
			err := sn.Walk(ctx, func(context.Context, snapshots.Info) error { seen++; return nil }, filters...)
			want := count
			if len(filters) > 0 {
				want = count / 20
			}
			if err == nil && seen != want {
				err = fmt.Errorf("List %v returned %d snapshots, want %d", filters, seen, want)
			}
			return err
		}
	}
	full, err := timeCalls("list", calls, walk())
	if err != nil {
		return Result{}, err
	}
	filtered, err := timeCalls("list filtered", calls, walk(`labels."bench.tsov/group"==g7`))
	if err != nil {
		return Result{}, err
	}
	full.Workload = fmt.Sprintf("list of %d", count)
	full.Measurements = map[string]Latency{
		"full":     {Count: full.Operations, P50Ms: full.P50Ms, P99Ms: full.P99Ms},
		"filtered": {Count: filtered.Operations, P50Ms: filtered.P50Ms, P99Ms: filtered.P99Ms},
	}
	return full, nil
}

// usage: an active snapshot over a base whose upper holds files small files
// in 100 directories (a running container's writable layer); timed Usage
// calls of it, as CRI makes one per running container every stats_collect_period.
// writeEach: a file is written into the upper before each call (untimed).
func usage(ctx context.Context, sn snapshots.Snapshotter, files, calls int, writeEach bool) (Result, error) {
	base, err := commitBase(ctx, sn, "usage-base")
	if err != nil {
		return Result{}, err
	}
	mounts, err := sn.Prepare(ctx, "usage-active", base)
	if err != nil {
		return Result{}, err
	}
	upper, err := upperDir(mounts)
	if err != nil {
		return Result{}, err
	}
	for f := 0; f < files; f++ {
		dir := filepath.Join(upper, fmt.Sprintf("dir-%d", f%100))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Result{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%d", f)), []byte("tsov bench payload\n"), 0o644); err != nil {
			return Result{}, err
		}
	}
	want := int64(files + 100)
	written := 0
	before := func() error {
		if !writeEach {
			return nil
		}
		written++
		want++
		return os.WriteFile(filepath.Join(upper, "dir-0", fmt.Sprintf("written-%d", written)), []byte("more\n"), 0o644)
	}
	return timeCallsAfter(fmt.Sprintf("Usage of an active snapshot with %d files", files), calls, before, func() error {
		u, err := sn.Usage(ctx, "usage-active")
		if err == nil && u.Inodes < want {
			err = fmt.Errorf("Usage counted %d inodes, want at least %d", u.Inodes, want)
		}
		return err
	})
}

func timeCalls(name string, calls int, call func() error) (Result, error) {
	return timeCallsAfter(name, calls, func() error { return nil }, call)
}

// timeCallsAfter times calls of call, each after an untimed before.
func timeCallsAfter(name string, calls int, before, call func() error) (Result, error) {
	latencies := make([]time.Duration, 0, calls)
	start := time.Now()
	for i := 0; i < calls; i++ {
		if err := before(); err != nil {
			return Result{}, err
		}
		began := time.Now()
		if err := call(); err != nil {
			return Result{}, err
		}
		latencies = append(latencies, time.Since(began))
	}
	elapsed := time.Since(start).Seconds()
	p50, p99 := percentiles(latencies)
	return Result{Workload: name, Operations: calls, Seconds: elapsed, PerSecond: float64(calls) / elapsed, P50Ms: p50, P99Ms: p99}, nil
}

// summarise gives one kind of call's count, mean and percentiles: the mean is what a
// sequential caller's rate follows, the percentiles say where it is lost.
func summarise(latencies []time.Duration) Latency {
	if len(latencies) == 0 {
		return Latency{}
	}
	sorted := append([]time.Duration(nil), latencies...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	at := func(q float64) float64 { return milliseconds(sorted[int(q*float64(len(sorted)-1))]) }
	var total time.Duration
	for _, d := range sorted {
		total += d
	}
	return Latency{Count: len(sorted), MeanMs: milliseconds(total) / float64(len(sorted)), P50Ms: at(0.50), P90Ms: at(0.90), P99Ms: at(0.99)}
}

func milliseconds(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func percentiles(latencies []time.Duration) (float64, float64) {
	summary := summarise(latencies)
	return summary.P50Ms, summary.P99Ms
}
