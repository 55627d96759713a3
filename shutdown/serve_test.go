package shutdown

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// One server on two listeners (IPv4 and IPv6, TCP and a unix socket):
// the second Serve must not rewrite srv.Handler while the first listener
// already serves requests that read it. Run under -race.
func TestServeOneServerTwice(t *testing.T) {
	var fake fakeOS
	m := New(fake.option(), quiet(), DrainDelay(0), Timeout(5*time.Second))
	srv := testServer()
	first, second := newPipeNet(t), newPipeNet(t)
	// One connection: a connection dialled and left unused would hold
	// Shutdown for 5s (net/http treats it as active until then).
	first.tr.MaxConnsPerHost = 1
	m.Serve(srv, first)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, _, err := first.get("/fast"); err != nil {
				errs <- err
			}
		})
	}
	m.Serve(srv, second) // while the first listener serves
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("first listener: %v", err)
	}

	m.Trigger(nil)
	if h, ok := srv.Handler.(*drainHandler); !ok {
		t.Errorf("srv.Handler is %T, want the draining wrapper", srv.Handler)
	} else if _, twice := h.next.(*drainHandler); twice {
		t.Error("srv.Handler wrapped twice")
	}
	if err := m.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
}

var _ http.Handler = (*drainHandler)(nil)
