package memlimit_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/prodready/prodready/memlimit"
)

// Apply runs early in main; whatever the machine, the limit it reports is
// the one the runtime now uses, and its source says why.
func ExampleApply() {
	mem := memlimit.Apply()
	fmt.Println(mem.Limit == debug.SetMemoryLimit(-1), mem.Source != "")
	// Output: true true
}

// Follow runs for the life of the service on a goroutine the program
// owns (a shutdown.Manager worker in the examples); it returns when its
// context ends.
func ExampleFollow() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		memlimit.Follow(ctx, memlimit.Interval(10*time.Second), memlimit.Logger(slog.Default()))
	}()
	cancel() // the shutdown began
	<-done
	fmt.Println("stopped")
	// Output: stopped
}
