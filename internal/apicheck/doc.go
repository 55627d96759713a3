// Package apicheck keeps the exported API of every public package of the
// module in a committed text file (api/<package path>.txt at the module
// root), so that an API change is always a visible, deliberate diff in
// review. TestAPI compares the files with the code and fails on any
// difference; UPDATE_API=1 go test ./internal/apicheck (or -update) rewrites
// them.
//
// A public package is any package of the root module outside internal/
// directories and testdata, the root package included (api/prodready.txt);
// a new package is picked up without a change here. The text is the declarations only
// (no doc comments, no unexported names, sorted by name), so rewording a
// comment or moving a function to another file is not an API change.
package apicheck
