package ops

import "testing"

func TestPprofNeedsTheMetricsListener(t *testing.T) {
	base := Settings{LogFormat: "text", MetricsAddr: "127.0.0.1:9097"}
	if err := base.Validate(); err != nil {
		t.Fatalf("metrics on, pprof off: %v", err)
	}
	on := base
	on.Pprof = true
	if err := on.Validate(); err != nil {
		t.Errorf("metrics on, pprof on: %v", err)
	}
	for _, addr := range []string{"off", ""} {
		s := on
		s.MetricsAddr = addr
		if err := s.Validate(); err == nil {
			t.Errorf("pprof with the metrics listener %q: no error", addr)
		}
	}
}
