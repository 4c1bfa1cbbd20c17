// Command reference-proxy serves containerd's own overlayfs snapshotter over
// the Snapshots API on a unix socket: the reference tsov is benchmarked
// against. It is configured as containerd's built-in "overlayfs" plugin
// configures it (asynchronous removal), so the only difference from the
// built-in snapshotter is the proxy socket, which tsov has too.
//
// Built in GOPATH mode against Debian's golang-github-containerd-containerd-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o bin/reference-proxy .
//	reference-proxy -root DIR -address SOCKET
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/snapshots/overlay"
	"google.golang.org/grpc"
)

func main() {
	root := flag.String("root", "", "snapshotter root directory")
	address := flag.String("address", "", "unix socket to serve on")
	flag.Parse()
	if *root == "" || *address == "" {
		fmt.Fprintln(os.Stderr, "usage: reference-proxy -root DIR -address SOCKET")
		os.Exit(2)
	}
	sn, err := overlay.NewSnapshotter(*root, overlay.AsynchronousRemove)
	if err != nil {
		fmt.Fprintf(os.Stderr, "reference-proxy: %v\n", err)
		os.Exit(1)
	}
	_ = os.Remove(*address)
	listener, err := net.Listen("unix", *address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "reference-proxy: %v\n", err)
		os.Exit(1)
	}
	server := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(server, snapshotservice.FromSnapshotter(sn))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		server.GracefulStop()
	}()
	if err := server.Serve(listener); err != nil {
		fmt.Fprintf(os.Stderr, "reference-proxy: %v\n", err)
		os.Exit(1)
	}
	_ = sn.Close()
}
