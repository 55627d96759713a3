// Package routers runs prodready's middlewares in front of the routers Go
// services use most, the newest chi v5, gorilla/mux and http.ServeMux, each
// named with the one line the README gives for it, through
// internal/routertest. It is a module of its own so that no router enters
// the library's go.mod; chi v5.0.12, which does not set r.Pattern, has a
// module of its own beside it (tests/chi-v5.0.12), because a workspace
// builds one version of each module.
package routers
