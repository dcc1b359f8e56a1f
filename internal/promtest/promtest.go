// Package promtest reads a Prometheus exposition in tests, as a scraper
// would. It is apart from testkit so that testkit stays free of the
// Prometheus modules (cmd/demo/composetest, a module of its own, uses
// testkit).
package promtest

import (
	"io"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is a parsed Prometheus text exposition.
type Metrics map[string]*dto.MetricFamily

// Parse parses a text exposition as a scraper would.
func Parse(t testing.TB, r io.Reader) Metrics {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// Scrape GETs url and parses it.
func Scrape(t testing.TB, client *http.Client, url string) Metrics {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d", url, resp.StatusCode)
	}
	return Parse(t, resp.Body)
}

// Value is the value of the counter, gauge or untyped sample of name whose
// labels include labels (a histogram gives its sample count), summed over
// matching series; found is false when no series matches.
func (m Metrics) Value(name string, labels map[string]string) (v float64, found bool) {
	fam, ok := m[name]
	if !ok {
		return 0, false
	}
	for _, metric := range fam.GetMetric() {
		match := 0
		for _, lp := range metric.GetLabel() {
			if want, ok := labels[lp.GetName()]; ok && want == lp.GetValue() {
				match++
			}
		}
		if match != len(labels) {
			continue
		}
		found = true
		switch {
		case metric.Counter != nil:
			v += metric.GetCounter().GetValue()
		case metric.Gauge != nil:
			v += metric.GetGauge().GetValue()
		case metric.Histogram != nil:
			v += float64(metric.GetHistogram().GetSampleCount())
		case metric.Untyped != nil:
			v += metric.GetUntyped().GetValue()
		}
	}
	return v, found
}

// Labels lists the values label takes across name's series.
func (m Metrics) Labels(name, label string) []string {
	var out []string
	for _, metric := range m[name].GetMetric() {
		for _, lp := range metric.GetLabel() {
			if lp.GetName() == label {
				out = append(out, lp.GetValue())
			}
		}
	}
	return out
}
