package testkit

import (
	"testing"
	"time"
)

// Pair is one side of a paired benchmark: a name, for the unit "ns/"+Name,
// and instances of the thing measured, each a function of one operation.
type Pair struct {
	Name      string
	Instances []func() error
}

// Paired compares two sides in one run, for a machine whose load changes
// while it runs: each iteration runs every instance of both sides once,
// A1 B1 A2 B2, and the next iteration in reverse, B2 A2 B1 A1, so that
// each side takes every position in turn (the first operation of an
// iteration was measured slower than the others) and neither an
// instance's own bias (where its data sits, which pool warmed first) nor
// the order favours a side. Give each side two instances built alike. It
// reports each side's ns per operation and b's ratio metric: b's time as a
// ratio to a's. allocs/op and ns/op are those of the whole iteration.
func Paired(tb *testing.B, ratio string, a, b Pair) {
	tb.Helper()
	type op struct {
		side int
		run  func() error
	}
	var order []op
	for i := range max(len(a.Instances), len(b.Instances)) {
		if i < len(a.Instances) {
			order = append(order, op{0, a.Instances[i]})
		}
		if i < len(b.Instances) {
			order = append(order, op{1, b.Instances[i]})
		}
	}
	var elapsed [2]time.Duration
	turn := 0
	tb.ReportAllocs()
	for tb.Loop() {
		turn++
		for k := range order {
			o := order[k]
			if turn%2 == 0 {
				o = order[len(order)-1-k]
			}
			start := time.Now()
			if err := o.run(); err != nil {
				tb.Fatal(err)
			}
			elapsed[o.side] += time.Since(start)
		}
	}
	perOp := func(side int, p Pair) float64 {
		return float64(elapsed[side].Nanoseconds()) / float64(tb.N) / float64(len(p.Instances))
	}
	tb.ReportMetric(perOp(0, a), "ns/"+a.Name)
	tb.ReportMetric(perOp(1, b), "ns/"+b.Name)
	tb.ReportMetric(perOp(1, b)/perOp(0, a), ratio)
}
