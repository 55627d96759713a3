// Package chiv5012 runs prodready's middlewares in front of chi v5.0.12
// through internal/routertest, with the README's chi line: the v5.0.x
// releases, which many services pin, do not set r.Pattern, so the route
// must come through the line's function alone.
//
// It is a module of its own, outside the workspace (go.work builds one
// version of chi for all its modules, the newest): run it with GOWORK=off,
// as scripts/test does.
package chiv5012
