// Package benchmarks holds the comparison benchmarks: each of prodready's
// hot paths beside what users would otherwise pick, in the same run. It is a
// module of its own so that the library's go.mod never lists a competitor.
package benchmarks
