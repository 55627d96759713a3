// Package sample exercises Render: what is API and what is not.
package sample

import (
	"errors"
	"io"
)

// A group with an unexported member keeps its exported ones.
const (
	A Mode = iota // first
	b
	C
)

var ErrX = errors.New("x")

var hidden = 1

type Mode int

// T has fields of both kinds.
type T[K comparable] struct {
	Name string // kept
	age  int
	io.Reader
	*inner
}

type inner struct{}

func (inner) Exported() {}

func (t *T[K]) Get(k K) string { return t.Name }

func (t *T[K]) set() {}

type I interface {
	Do() error
	undo()
}

func New() *T[string] { return nil }

func helper() {}
