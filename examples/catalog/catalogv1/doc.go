// Package catalogv1 is the catalog service's gRPC API, catalog.v1.Catalog:
// the protobuf messages and the client and server stubs that protoc writes
// from catalog.proto. The generated files are committed; scripts/check
// generated regenerates them and fails when they differ.
package catalogv1

//go:generate ../../../scripts/protoc-catalog
