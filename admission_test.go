package prodready_test

import (
	"github.com/prodready/prodready/grpcx"
	"github.com/prodready/prodready/server"
)

// One admission path for both ports: what server.NewAdmission returns is
// what grpcx.Admission takes.
var _ grpcx.Admitter = (*server.Admission)(nil)
