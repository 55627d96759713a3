// Package e2e is the harness of the end-to-end tests: it builds catalog
// and orders, runs them as real processes with only the environment a
// test gives them, collects their JSON log lines, and starts the whole
// stack (a private PostgreSQL, catalog, orders) ready to serve. The
// integration and hardening tests share it.
//
// # Usage
//
//	var bin e2e.Binaries
//
//	func TestMain(m *testing.M) {
//		e2e.Main(m, func(dir string) (err error) {
//			bin, err = e2e.Build(dir, e2e.Race)
//			return err
//		})
//	}
//
//	func TestSomething(t *testing.T) {
//		s := e2e.StartStack(t, bin, e2e.StackOptions{})
//		r := s.Send(t, http.MethodPost, "/orders", nil, `{"product_id":"p1","quantity":1}`)
//		...
//	}
package e2e
