package request

import "sync"

// ResetRouteWarning lets a test see the once-per-process warning again.
func ResetRouteWarning() { routeWarning = sync.Once{} }
