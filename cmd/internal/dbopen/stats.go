package dbopen

import (
	"database/sql"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// PoolCollector returns a collector of st's connection-pool statistics,
// or nil for a store that has none: database/sql's for SQLite, pgxpool's
// for PostgreSQL. The store package stays free of Prometheus: backends
// only expose their pool.
func PoolCollector(st any, name string) prometheus.Collector {
	switch db := st.(type) {
	case interface{ SQLDB() *sql.DB }:
		return collectors.NewDBStatsCollector(db.SQLDB(), name)
	case interface{ PoolStat() *pgxpool.Stat }:
		return pgxCollector{stat: db.PoolStat, name: name}
	}
	return nil
}

var (
	pgxLabels   = []string{"db_name"}
	pgxAcquired = prometheus.NewDesc("authsvc_pgxpool_acquired_conns", "Connections currently acquired from the pool.", pgxLabels, nil)
	pgxIdle     = prometheus.NewDesc("authsvc_pgxpool_idle_conns", "Idle connections in the pool.", pgxLabels, nil)
	pgxTotal    = prometheus.NewDesc("authsvc_pgxpool_total_conns", "Connections in the pool.", pgxLabels, nil)
	pgxMax      = prometheus.NewDesc("authsvc_pgxpool_max_conns", "Maximum size of the pool.", pgxLabels, nil)
	pgxAcquires = prometheus.NewDesc("authsvc_pgxpool_acquires_total", "Successful acquires from the pool.", pgxLabels, nil)
	pgxEmpty    = prometheus.NewDesc("authsvc_pgxpool_empty_acquires_total", "Acquires that waited for a connection because the pool was empty.", pgxLabels, nil)
	pgxWait     = prometheus.NewDesc("authsvc_pgxpool_acquire_wait_seconds_total", "Time spent waiting for a connection.", pgxLabels, nil)
	pgxCanceled = prometheus.NewDesc("authsvc_pgxpool_canceled_acquires_total", "Acquires cancelled by their context.", pgxLabels, nil)
)

// pgxCollector exports pgxpool.Stat at each scrape.
type pgxCollector struct {
	stat func() *pgxpool.Stat
	name string
}

func (c pgxCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pgxAcquired, pgxIdle, pgxTotal, pgxMax, pgxAcquires, pgxEmpty, pgxWait, pgxCanceled} {
		ch <- d
	}
}

func (c pgxCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(pgxAcquired, gauge, float64(s.AcquiredConns()), c.name)
	ch <- prometheus.MustNewConstMetric(pgxIdle, gauge, float64(s.IdleConns()), c.name)
	ch <- prometheus.MustNewConstMetric(pgxTotal, gauge, float64(s.TotalConns()), c.name)
	ch <- prometheus.MustNewConstMetric(pgxMax, gauge, float64(s.MaxConns()), c.name)
	ch <- prometheus.MustNewConstMetric(pgxAcquires, counter, float64(s.AcquireCount()), c.name)
	ch <- prometheus.MustNewConstMetric(pgxEmpty, counter, float64(s.EmptyAcquireCount()), c.name)
	ch <- prometheus.MustNewConstMetric(pgxWait, counter, s.AcquireDuration().Seconds(), c.name)
	ch <- prometheus.MustNewConstMetric(pgxCanceled, counter, float64(s.CanceledAcquireCount()), c.name)
}
