// The web app the tests and experiments run in pods, standing in for a
// user's (examples/deployment.yaml's): an HTTP server that answers every
// request with 200 and exits at once on SIGTERM, without draining, as most
// apps do. That is the problem the preStop sleep solves: a pod stopped while
// the load balancer still sends it requests refuses them.
//
//	app [-listen HOST:PORT]   (or LISTEN=HOST:PORT in the environment; default :8080,
//	                           the containerPort of examples/deployment.yaml)
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", envOr("LISTEN", ":8080"), "address to listen on, host:port")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "app: usage: app [-listen HOST:PORT] (or LISTEN=HOST:PORT)")
		os.Exit(2)
	}
	// Before the listener, so that a SIGTERM from the first moment it
	// answers is handled (as PID 1 an unhandled SIGTERM would be ignored).
	terminate := make(chan os.Signal, 1)
	signal.Notify(terminate, syscall.SIGTERM)

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
	hostname, _ := os.Hostname()
	server := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok from %s %s\n", hostname, *listen)
	})}
	go func() {
		err := server.Serve(listener)
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}()

	<-terminate
	// No Shutdown, no drain: in-flight requests and open connections die
	// with the process.
	os.Exit(0)
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
