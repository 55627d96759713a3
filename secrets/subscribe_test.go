package secrets

import (
	"slices"
	"testing"
	"testing/synctest"
)

// cancel while the subscriber is busy with one value and the next is
// already waiting for it: the waiting value is never delivered. Its
// delivery goroutine then sees both the stop and the wake-up ready, so
// this is repeated to catch a random pick of the wake-up.
func TestSubscribeCancelWithValueWaiting(t *testing.T) {
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			f, src, path := watchFake(t, "v0", Debounce(0))
			gate := make(chan struct{})
			var got []string
			cancel := f.Subscribe(func(s Secret) {
				got = append(got, s.Reveal())
				<-gate
			})
			writeFile(t, path, "v1")
			src.event()
			synctest.Wait() // the subscriber is busy with v1
			writeFile(t, path, "v2")
			src.event()
			synctest.Wait() // v2 waits in its mailbox
			cancel()
			close(gate)
			synctest.Wait()
			if !slices.Equal(got, []string{"v1"}) {
				t.Fatalf("got %q, want only v1: v2 was delivered after cancel returned", got)
			}
		})
	}
}
