package tracing

import "testing"

// TestDefaultEndpoint: with the otlp exporter and no endpoint, Setup sends
// where the specification says, over plain http (the exporters' own
// default is https, which no local collector serves).
func TestDefaultEndpoint(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		cfg  Config
		want string
	}{
		{"http/protobuf by default", map[string]string{envExporter: "otlp"}, Config{}, "http://localhost:4318/v1/traces"},
		{"explicit http/protobuf", map[string]string{envExporter: "otlp", envProtocol: "http/protobuf"}, Config{}, "http://localhost:4318/v1/traces"},
		{"exporter from Config", nil, Config{Exporter: "otlp"}, "http://localhost:4318/v1/traces"},
		{"grpc", map[string]string{envExporter: "otlp", envTracesProtocol: "grpc"}, Config{}, "http://localhost:4317"},
		{"an endpoint set is kept", map[string]string{envEndpoint: "https://collector:4318"}, Config{}, "https://collector:4318/v1/traces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{envExporter, envEndpoint, envTracesEndpoint, envProtocol, envTracesProtocol} {
				t.Setenv(k, tt.env[k])
			}
			s, err := readEnv(tt.cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.endpoint != tt.want {
				t.Errorf("endpoint = %q, want %q", s.endpoint, tt.want)
			}
		})
	}
}
