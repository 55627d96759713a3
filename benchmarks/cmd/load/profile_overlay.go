//go:build ignore

// This file is not built with the load tool: with -profile, the tool adds
// it to both catalog binaries (go build -overlay), so each writes a CPU
// profile of its whole run to $LOAD_CPUPROFILE and exits when the tool
// sends SIGUSR2.

package main

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	file := os.Getenv("LOAD_CPUPROFILE")
	if file == "" {
		return
	}
	f, err := os.Create(file)
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGUSR2)
	go func() {
		<-stop
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(0)
	}()
}
