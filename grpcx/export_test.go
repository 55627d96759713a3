package grpcx

// DrainStreams is GracefulStop's first step alone: the moment in which a
// new stream can still reach the server, on a connection whose client has
// not seen the GOAWAY yet.
func (s *Server) DrainStreams() { s.drain() }
