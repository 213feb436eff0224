//go:build pprofdev

package main

import (
	"net/http"
	_ "net/http/pprof" // the profiling endpoints, in a build made for profiling only
	"os"
)

// A binary built with -tags pprofdev serves net/http/pprof on the address
// in TANDEM_PPROF_ADDR, for profiling a broker under load (docs/perf.md).
// Release builds have no such endpoint.
func init() {
	if addr := os.Getenv("TANDEM_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
