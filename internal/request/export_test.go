package request

import (
	"context"
	"net/http"
	"sync"
)

// ResetRouteWarning lets a test see the once-per-process warning again.
func ResetRouteWarning() { routeWarning = sync.Once{} }

// Enter is enter without the created flag, for the state tests.
func Enter(ctx context.Context, w http.ResponseWriter, r *http.Request) (*State, http.ResponseWriter, *http.Request) {
	s, w, r, _ := enter(ctx, w, r)
	return s, w, r
}
