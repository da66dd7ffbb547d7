package agent

// gctrace shipping. GODEBUG=gctrace=1 makes the runtime print one line per GC cycle on stderr;
// a process cannot read its own, so the fleetprof-agent wrapper copies the child's stderr through
// a GCTraceShipper: it keeps the gc lines and uploads them in batches (kind gctrace, start = the
// process start, which the lines' @<s>s offsets count from).

import (
	"bytes"
	"regexp"
	"sync"
	"time"
)

// The head of a gc line as the runtime prints it (Go 1.5+): `gc 12 @3.456s 2%: ...`. Anything may
// precede it on the line (the app's own newline-less output, a log prefix); the parser in
// lib/decode/gctrace.ts finds it the same way.
var gcLineRE = regexp.MustCompile(`gc \d+ @\d+(?:\.\d+)?s \d+%`)

const (
	maxPartialLine  = 64 << 10 // longer unterminated text is kept by its tail only
	keepPartialLine = 16 << 10
	// DefaultGCTraceBatchBytes: a batch is uploaded early once it holds this many bytes of lines.
	DefaultGCTraceBatchBytes = 256 << 10
	// maxGCTraceBatch bounds the lines held between flushes (oldest lines dropped beyond it).
	maxGCTraceBatch = 8 << 20
)

// GCTraceShipper is an io.Writer that extracts gc lines from what is written to it and uploads
// them through an Agent in batches. Write never blocks on the network and never fails.
type GCTraceShipper struct {
	a       *Agent
	start   time.Time
	period  time.Duration
	mu      sync.Mutex
	partial []byte
	batch   bytes.Buffer
	lines   int64 // gc lines seen
	full    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	closed  bool
}

// NewGCTraceShipper uploads the gc lines written to it every period (and when a batch reaches
// DefaultGCTraceBatchBytes, and at Close). processStart is the start of the process whose stderr
// this is: the key's start, and the origin of the lines' @<s>s offsets.
func NewGCTraceShipper(a *Agent, processStart time.Time, period time.Duration) *GCTraceShipper {
	if period <= 0 {
		period = DefaultPeriod
	}
	s := &GCTraceShipper{a: a, start: processStart, period: period, full: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

// Lines returns how many gc lines were seen.
func (s *GCTraceShipper) Lines() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines
}

// Write scans p for complete gc lines. It always reports len(p), nil.
func (s *GCTraceShipper) Write(p []byte) (int, error) {
	n := len(p)
	s.a.guard("gctrace", func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for len(p) > 0 {
			nl := bytes.IndexByte(p, '\n')
			if nl < 0 {
				s.partial = append(s.partial, p...)
				if len(s.partial) > maxPartialLine {
					s.partial = append(s.partial[:0], s.partial[len(s.partial)-keepPartialLine:]...)
				}
				break
			}
			line := p[:nl]
			if len(s.partial) > 0 {
				s.partial = append(s.partial, line...)
				line = s.partial
			}
			s.addLine(line)
			s.partial = s.partial[:0]
			p = p[nl+1:]
		}
		if s.batch.Len() >= DefaultGCTraceBatchBytes {
			select {
			case s.full <- struct{}{}:
			default:
			}
		}
	})
	return n, nil
}

// addLine keeps line when it is a gc line. Caller holds mu.
func (s *GCTraceShipper) addLine(line []byte) {
	if !bytes.Contains(line, []byte("gc ")) || !gcLineRE.Match(line) {
		return
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > 4096 { // a gc line is ~200 bytes; keep the gc part of an overlong one
		loc := gcLineRE.FindIndex(line)
		line = line[loc[0]:min(len(line), loc[0]+4096)]
	}
	s.lines++
	if s.batch.Len()+len(line)+1 > maxGCTraceBatch {
		s.a.stats.dropped.Add(1)
		s.a.stats.droppedBytes.Add(int64(len(line) + 1))
		return
	}
	s.batch.Write(line)
	s.batch.WriteByte('\n')
}

func (s *GCTraceShipper) loop() {
	defer close(s.done)
	t := time.NewTicker(s.period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flush()
		case <-s.full:
			s.flush()
		case <-s.stop:
			s.flush()
			return
		}
	}
}

func (s *GCTraceShipper) flush() {
	s.a.guard("gctrace", func() {
		s.mu.Lock()
		if s.batch.Len() == 0 {
			s.mu.Unlock()
			return
		}
		data := append([]byte(nil), s.batch.Bytes()...)
		s.batch.Reset()
		s.mu.Unlock()
		gz, err := gzipBytes(data)
		if err != nil {
			s.a.stats.skipped.Add(1)
			s.a.stats.setErr(err)
			return
		}
		s.a.enqueue("gctrace", "log.gz", s.start, gz)
	})
}

// Close uploads the last batch (a final line without newline is not a whole gc line and is
// left out) and stops the batching goroutine. Call it before Agent.Stop.
func (s *GCTraceShipper) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	return nil
}
