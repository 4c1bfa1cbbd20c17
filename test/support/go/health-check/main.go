// health-check asks a gRPC server on a unix socket for its health, as the
// standard clients do: grpc-go's grpc_health_v1.HealthClient.Check (what
// grpc_health_probe and the kubelet's gRPC probe call). Usage:
//
//	health-check SOCKET SERVICE
//
// Prints one JSON line: {"status":"SERVING"} or {"code":"NotFound","message":…}.
package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func main() {
	out := map[string]string{}
	// As containerd dials its proxy plugins (pkg/dialer): the socket path as the target, a unix dialer.
	dialer := func(ctx context.Context, path string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}
	conn, err := grpc.Dial(os.Args[1], grpc.WithInsecure(), grpc.WithContextDialer(dialer))
	if err != nil {
		out["code"] = "Dial"
		out["message"] = err.Error()
	} else {
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		reply, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: os.Args[2]})
		if err != nil {
			s, _ := status.FromError(err)
			out["code"] = s.Code().String()
			out["message"] = s.Message()
		} else {
			out["status"] = reply.GetStatus().String()
		}
	}
	line, _ := json.Marshal(out)
	os.Stdout.Write(append(line, '\n'))
}
