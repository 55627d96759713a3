package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	newC := func() prometheus.Collector {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "a_total", Help: "a"})
	}
	first, second := newC(), newC()
	if err := Register(reg, []*prometheus.Collector{&first}); err != nil {
		t.Fatal(err)
	}
	if err := Register(reg, []*prometheus.Collector{&second}); err != nil || second != first {
		t.Fatalf("second set: %v, reused %v; want the registered collector", err, second == first)
	}
	// A clash undoes the set: b is not left registered.
	b := prometheus.Collector(prometheus.NewCounter(prometheus.CounterOpts{Name: "b_total", Help: "b"}))
	clash := prometheus.Collector(prometheus.NewGauge(prometheus.GaugeOpts{Name: "a_total", Help: "other"}))
	if err := Register(reg, []*prometheus.Collector{&b, &clash}); err == nil {
		t.Fatal("a clash registered")
	}
	if reg.Unregister(b) {
		t.Error("b was left registered after the clash")
	}
}
