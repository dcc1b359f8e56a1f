// Package cachemetrics exports the counters of a store/cached cache.
package cachemetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/store/cached"
)

// Help describes a cache's metrics.
type Help struct {
	Lookups, Entries, Bytes string
	// Bypass: the cache can be bypassed (lookups_total{result="bypass"}).
	Bypass bool
}

// Collectors export stats as NAME_lookups_total{result="hit"|"miss"[|"bypass"]},
// NAME_entries and NAME_bytes.
func Collectors(name string, help Help, stats func() cached.Stats) []prometheus.Collector {
	lookups := func(result string, pick func(cached.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: obs.Namespace, Name: name + "_lookups_total", Help: help.Lookups,
			ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 { return float64(pick(stats())) })
	}
	cs := []prometheus.Collector{
		lookups("hit", func(st cached.Stats) uint64 { return st.Hits }),
		lookups("miss", func(st cached.Stats) uint64 { return st.Misses }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: obs.Namespace, Name: name + "_entries", Help: help.Entries},
			func() float64 { return float64(stats().Entries) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: obs.Namespace, Name: name + "_bytes", Help: help.Bytes},
			func() float64 { return float64(stats().Bytes) }),
	}
	if help.Bypass {
		cs = append(cs, lookups("bypass", func(st cached.Stats) uint64 { return st.Bypassed }))
	}
	return cs
}
