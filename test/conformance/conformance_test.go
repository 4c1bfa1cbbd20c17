// Package conformance drives containerd's own snapshotter conformance suite
// (snapshots/testsuite) against tsov-snapshotter over its gRPC socket. Every
// case gets a fresh tsov-snapshotter process on the case's own root.
//
// Built in GOPATH mode against Debian's golang-github-containerd-containerd-dev:
//   GO111MODULE=off GOPATH=/usr/share/gocode go test -c -o bin/conformance.test .
// Run as root (the suite mounts what the snapshotter returns):
//   TSOV_SNAPSHOTTER=dist/snapshotter/main.js bin/conformance.test -test.root -test.v
package conformance

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/pkg/testutil"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/proxy"
	"github.com/containerd/containerd/snapshots/testsuite"
	"google.golang.org/grpc"
)

const startTimeout = 20 * time.Second

func TestTsovSnapshotter(t *testing.T) {
	testutil.RequiresRoot(t)
	entry := os.Getenv("TSOV_SNAPSHOTTER")
	if entry == "" {
		t.Fatal("set TSOV_SNAPSHOTTER to the path of tsov-snapshotter's main.js")
	}
	testsuite.SnapshotterSuite(t, "overlayfs", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		return startTsov(entry, root)
	})
}

func startTsov(entry, root string) (snapshots.Snapshotter, func() error, error) {
	socket := filepath.Join(filepath.Dir(root), "tsov.sock")
	cmd := exec.Command("node", entry, "--root", root, "--address", socket, "--log-level", "warn")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(startTimeout):
			_ = cmd.Process.Kill()
			return fmt.Errorf("tsov-snapshotter did not stop within %s of SIGTERM", startTimeout)
		}
	}

	deadline := time.Now().Add(startTimeout)
	for {
		// The socket file appears at bind(2), before listen(2): wait until it accepts.
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return nil, nil, fmt.Errorf("tsov-snapshotter exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, nil, fmt.Errorf("tsov-snapshotter did not accept connections on %s within %s", socket, startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}

	conn, err := grpc.Dial("unix://"+socket, grpc.WithInsecure())
	if err != nil {
		_ = stop()
		return nil, nil, err
	}
	sn := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "tsov")
	cleanup := func() error {
		_ = sn.Close()
		_ = conn.Close()
		return stop()
	}
	return sn, cleanup, nil
}
