package agent

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"time"
)

// profileLoop collects the profiles once per Period: a CPU profile of CPUDuration first, then a
// snapshot of each other profile, and closes the period's bundle (bundle.go); with
// PerFileUploads each is uploaded on its own as gzipped pprof protobuf (.pb.gz).
func (a *Agent) profileLoop(cpu bool, others []string) {
	defer a.collectors.Done()
	for {
		t0 := time.Now()
		a.guard("profiles", func() { a.collectProfiles(cpu, others) })
		a.guard("bundle", a.flushBundle)
		if a.stopping() {
			return
		}
		if !a.waitStop(a.cfg.Period - time.Since(t0)) {
			return
		}
	}
}

func (a *Agent) collectProfiles(cpu bool, others []string) {
	if cpu {
		a.collectCPU()
	}
	for _, name := range others {
		p := pprof.Lookup(name)
		if p == nil {
			a.stats.skipped.Add(1)
			continue
		}
		var buf bytes.Buffer
		start := time.Now()
		if err := p.WriteTo(&buf, 0); err != nil {
			a.stats.skipped.Add(1)
			a.stats.setErr(err)
			continue
		}
		body, delta, err := deltaProfile(name, buf.Bytes())
		if err != nil {
			a.stats.skipped.Add(1)
			a.stats.setErr(err)
			continue
		}
		temporality := ""
		if delta {
			temporality = "delta"
		}
		a.emit(name, start, temporality, body)
	}
}

func (a *Agent) collectCPU() {
	var buf bytes.Buffer
	start := time.Now()
	if err := pprof.StartCPUProfile(&buf); err != nil {
		// Only one CPU profile can run per process (e.g. a /debug/pprof/profile request is running).
		a.stats.skipped.Add(1)
		a.stats.setErr(err)
		return
	}
	stopped := false
	defer func() {
		if !stopped {
			pprof.StopCPUProfile()
		}
	}()
	a.waitStop(a.cfg.CPUDuration)
	pprof.StopCPUProfile()
	stopped = true
	a.emit("cpu", start, "", buf.Bytes())
}

// maxMetricsBatch: a metrics batch is uploaded early when its JSON lines reach this size.
const maxMetricsBatch = 1 << 20

// metricsLoop takes a runtime/metrics snapshot every MetricsPeriod and hands them on as JSON lines
// once per Period (and at Stop, after a last snapshot): to the period's bundle, or uploaded on
// their own (PerFileUploads). Without a profile loop it closes the bundle itself.
func (a *Agent) metricsLoop() {
	defer a.collectors.Done()
	var r *metricsReader
	var batch bytes.Buffer
	var batchStart time.Time
	lastFlush := time.Now()
	snap := func() {
		a.guard("metrics", func() {
			if r == nil {
				r = newMetricsReader()
			}
			now := time.Now()
			if batch.Len() == 0 {
				batchStart = now
			}
			r.appendSnapshot(&batch, now)
		})
	}
	flush := func() {
		a.guard("metrics", func() {
			lastFlush = time.Now()
			if batch.Len() == 0 {
				return
			}
			lines := append([]byte(nil), batch.Bytes()...)
			batch.Reset()
			a.emit("metrics", batchStart, "", lines)
			if !a.profiling {
				a.flushBundle()
			}
		})
	}
	snap()
	tick := time.NewTicker(a.cfg.MetricsPeriod)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			snap()
			if time.Since(lastFlush) >= a.cfg.Period || batch.Len() >= maxMetricsBatch {
				flush()
			}
		case <-a.stopCollect:
			snap()
			flush()
			return
		}
	}
}

func gzipBytes(b []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// metricsReader reads every supported runtime/metrics metric (uint64, float64, Float64Histogram)
// and renders the snapshot as one JSON line {"time": RFC 3339, "metrics": {name: value}} — the
// shape lib/decode/runtime-metrics.ts reads. Infinite histogram bounds are "-Inf"/"+Inf".
type metricsReader struct {
	samples []metrics.Sample
	names   [][]byte // JSON-quoted names
}

func newMetricsReader() *metricsReader {
	r := &metricsReader{}
	for _, d := range metrics.All() {
		if d.Kind == metrics.KindBad {
			continue
		}
		q, _ := json.Marshal(d.Name)
		r.samples = append(r.samples, metrics.Sample{Name: d.Name})
		r.names = append(r.names, q)
	}
	return r
}

func (r *metricsReader) appendSnapshot(buf *bytes.Buffer, now time.Time) {
	metrics.Read(r.samples)
	b := buf.AvailableBuffer()
	b = append(b, `{"time":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","metrics":{`...)
	for i, s := range r.samples {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r.names[i]...)
		b = append(b, ':')
		switch s.Value.Kind() {
		case metrics.KindUint64:
			b = strconv.AppendUint(b, s.Value.Uint64(), 10)
		case metrics.KindFloat64:
			b = appendFloat(b, s.Value.Float64())
		case metrics.KindFloat64Histogram:
			h := s.Value.Float64Histogram()
			b = append(b, `{"buckets":[`...)
			for j, x := range h.Buckets {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendFloat(b, x)
			}
			b = append(b, `],"counts":[`...)
			for j, c := range h.Counts {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, c, 10)
			}
			b = append(b, "]}"...)
		default:
			b = append(b, "null"...)
		}
	}
	b = append(b, "}}\n"...)
	buf.Write(b)
}

func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, -1):
		return append(b, `"-Inf"`...)
	case math.IsInf(f, 1):
		return append(b, `"+Inf"`...)
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
