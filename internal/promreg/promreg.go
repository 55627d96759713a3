// Package promreg registers a set of collectors the way prodready's
// packages share series: one already registered with the same type is
// reused, so a second middleware, transport or gRPC server on one registry
// shares the series; any other error undoes the whole set.
package promreg

import (
	"errors"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers each collector on reg. One that is registered there
// already, with the same type, is replaced in place by the registered one.
// On any other error it unregisters what it registered and returns the
// error.
func Register(reg prometheus.Registerer, cs []*prometheus.Collector) error {
	var done []prometheus.Collector
	for _, c := range cs {
		err := reg.Register(*c)
		if err == nil {
			done = append(done, *c)
			continue
		}
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) && reflect.TypeOf(are.ExistingCollector) == reflect.TypeOf(*c) {
			*c = are.ExistingCollector
			continue
		}
		for _, d := range done {
			reg.Unregister(d)
		}
		return err
	}
	return nil
}
