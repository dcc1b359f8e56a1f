package obs_test

import (
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/example/authsvc/internal/obs"
)

func TestBoolGauge(t *testing.T) {
	var on atomic.Bool
	g := obs.NewBoolGauge(prometheus.GaugeOpts{Name: "x", Help: "x"}, on.Load)
	value := func() float64 {
		var m dto.Metric
		if err := g.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetGauge().GetValue()
	}
	on.Store(true)
	if v := value(); v != 1 {
		t.Fatalf("true: %v, want 1", v)
	}
	on.Store(false)
	if v := value(); v != 0 {
		t.Fatalf("false: %v, want 0", v)
	}
}
