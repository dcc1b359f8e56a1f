package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"
)

// printReport writes the run's settings, the markdown table and the
// targets' verdicts.
func printReport(w io.Writer, cfg config, environ []string, rows []row, results map[string]rowResult) {
	fmt.Fprintf(w, "loadbench %s, %d CPUs; each row: %v of POST /introspect on %d connections",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), cfg.duration, cfg.workers)
	fmt.Fprintf(w, "; floods: %d connections, at most %.0f guesses/s; legit login %v into the flood\n",
		cfg.attackers, cfg.attackRate, cfg.legitAfter)
	passed := append(passedThrough(environ, "AUTH_", ownedSettings("", "", "", environ)),
		passedThrough(environ, "RESOURCE_", resourceSettings("", "", "", environ))...)
	if len(passed) == 0 {
		passed = []string{"none"}
	}
	fmt.Fprintf(w, "AUTH_* and RESOURCE_* settings passed to the services: %s\n", strings.Join(passed, " "))
	fmt.Fprintln(w, "Absolute figures depend on the machine and its load: compare ratios, within one run.")
	fmt.Fprintln(w)

	var verdicts []string
	var speed, exact []row
	header := false
	for _, r := range rows {
		if r.speed {
			speed = append(speed, r)
			continue
		}
		if r.exact {
			exact = append(exact, r)
			continue
		}
		if !header {
			fmt.Fprintln(w, "| row | introspect req/s | ratio (target) | p50 | p99 | p99 ratio (target) | attacker answers | legit login (target) | authserver peak RSS |")
			fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
			header = true
		}
		res := results[r.name]
		base, hasBase := results[r.compareTo]
		hasBase = hasBase && r.compareTo != "" && base.main.answers > 0

		ratio, p99Ratio := "—", "—"
		if hasBase {
			got := res.main.throughput() / base.main.throughput()
			ratio = fmt.Sprintf("%.2f", got)
			if r.minThroughput > 0 {
				v := verdict(got >= r.minThroughput)
				ratio += fmt.Sprintf(" (≥ %.2f %s)", r.minThroughput, v)
				verdicts = append(verdicts, fmt.Sprintf("%s: throughput %.2f× %s, target ≥ %.2f×: %s", r.name, got, r.compareTo, r.minThroughput, v))
			}
			got = float64(res.main.percentile(99)) / float64(base.main.percentile(99))
			p99Ratio = fmt.Sprintf("%.1f×", got)
			if r.maxP99 > 0 {
				v := verdict(got <= r.maxP99)
				p99Ratio += fmt.Sprintf(" (≤ %g× %s)", r.maxP99, v)
				verdicts = append(verdicts, fmt.Sprintf("%s: p99 %.1f× %s, target ≤ %g×: %s", r.name, got, r.compareTo, r.maxP99, v))
			}
		}

		legit := "—"
		if res.legit != nil {
			legit = formatLogin(*res.legit)
			if r.legitWithin > 0 {
				v := verdict(res.legit.status == http.StatusOK && res.legit.err == nil && res.legit.latency <= r.legitWithin)
				legit += fmt.Sprintf(" (200 ≤ %v %s)", r.legitWithin, v)
				verdicts = append(verdicts, fmt.Sprintf("%s: legit login %s, target 200 within %v: %s", r.name, formatLogin(*res.legit), r.legitWithin, v))
			}
		}

		attack := "—"
		if res.attack != nil {
			attack = formatStatus(*res.attack) + fmt.Sprintf(" in %.1fs", res.attack.elapsed.Seconds())
			if res.attack.firstErr != nil {
				attack += fmt.Sprintf(" (first error: %v)", res.attack.firstErr)
			}
		}

		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.name, formatMain(res.main), ratio,
			formatDuration(res.main.percentile(50)), formatDuration(res.main.percentile(99)), p99Ratio,
			attack, legit, res.rss)
	}

	verdicts = append(verdicts, printSpeed(w, cfg, speed, results)...)
	verdicts = append(verdicts, printExact(w, exact, results)...)

	if len(verdicts) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Targets:")
		for _, v := range verdicts {
			fmt.Fprintln(w, "- "+v)
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// formatMain is the main load's throughput, with a warning when not every
// answer was a 200: then the figure is not what it seems.
func formatMain(r result) string {
	s := fmt.Sprintf("%.0f", r.throughput())
	if r.throughput() < 100 {
		s = fmt.Sprintf("%.2g", r.throughput())
	}
	if r.status[http.StatusOK] != r.answers || r.errors > 0 {
		s += " (" + formatStatus(r)
		if r.firstErr != nil {
			s += fmt.Sprintf("; first error: %v", r.firstErr)
		}
		s += ")"
	}
	return s
}

// formatStatus is "400:37 429:1200 err:3": answers by status, then the
// requests that got none.
func formatStatus(r result) string {
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(r.status)) {
		parts = append(parts, fmt.Sprintf("%d:%d", code, r.status[code]))
	}
	if r.errors > 0 {
		parts = append(parts, fmt.Sprintf("err:%d", r.errors))
	}
	if len(parts) == 0 {
		return "no answers"
	}
	return strings.Join(parts, " ")
}

func formatLogin(l login) string {
	var timeout interface{ Timeout() bool }
	switch {
	case l.status == 0 && errors.As(l.err, &timeout) && timeout.Timeout():
		return fmt.Sprintf("no answer within %s", formatDuration(l.latency))
	case l.status == 0:
		return fmt.Sprintf("no answer after %s (%v)", formatDuration(l.latency), l.err)
	case l.err != nil:
		return fmt.Sprintf("%d in %s (%v)", l.status, formatDuration(l.latency), l.err)
	}
	return fmt.Sprintf("%d in %s", l.status, formatDuration(l.latency))
}

// formatDuration keeps three significant digits: 412µs, 3.21ms, 1.25s.
func formatDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// printSpeed writes the table of the speed rows and returns their verdicts.
func printSpeed(w io.Writer, cfg config, rows []row, results map[string]rowResult) []string {
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Speed rows: %d connections (password: 2 per password slot), %v per load. The baseline is a bare net/http handler in the benchmark's process doing the same parsing (password: raw bcrypt on as many goroutines as slots, measured right after); the last two columns are the same handler in a process of its own, as the services are. The service and its baselines take %d turns each, so that all see the machine's fast and slow spells.\n", cfg.conns, cfg.duration, compareRounds)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| row | work | req/s | p50 | p99 (target) | baseline req/s | ratio to baseline (target) | authserver peak RSS | resource peak RSS | baseline in its own process req/s | ratio to it |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	var verdicts []string
	for _, r := range rows {
		res := results[r.name]
		p99 := formatDuration(res.main.percentile(99))
		if r.maxP99Abs > 0 {
			v := verdict(res.main.percentile(99) <= r.maxP99Abs)
			p99 += fmt.Sprintf(" (≤ %v %s)", r.maxP99Abs, v)
			verdicts = append(verdicts, fmt.Sprintf("%s: p99 %s, target ≤ %v: %s", r.name, formatDuration(res.main.percentile(99)), r.maxP99Abs, v))
		}
		bare, ratio := "—", "—"
		if res.bare != nil && res.bare.answers > 0 {
			bare = formatMain(*res.bare)
			got := res.main.throughput() / res.bare.throughput()
			ratio = fmt.Sprintf("%.2f", got)
			if r.minBareRatio > 0 {
				v := verdict(got >= r.minBareRatio)
				ratio += fmt.Sprintf(" (≥ %.2f %s)", r.minBareRatio, v)
				verdicts = append(verdicts, fmt.Sprintf("%s: %.2f× its baseline, target ≥ %.2f×: %s", r.name, got, r.minBareRatio, v))
			}
		}
		resourceRSS := res.resourceRSS
		if resourceRSS == "" {
			resourceRSS = "—"
		}
		own, ownRatio := "—", "—"
		if b := res.bareOwnProcess; b != nil && b.answers > 0 {
			own, ownRatio = formatMain(*b), fmt.Sprintf("%.2f", res.main.throughput()/b.throughput())
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.name, r.work, formatMain(res.main), formatDuration(res.main.percentile(50)), p99,
			bare, ratio, res.rss, resourceRSS, own, ownRatio)
	}
	return verdicts
}
